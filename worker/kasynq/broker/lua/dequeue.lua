-- Move the oldest pending task of one queue to active with a lease (rdb.Dequeue).
-- KEYS: pending, paused, active, lease. ARGV: lease expiry Unix s, task key prefix,
-- [optional "1": also return pending_since, read before it is deleted (kasynq metrics)].
-- Returns the encoded message (or {message, pending_since} with ARGV[3] = "1"), or nil when
-- the queue is paused or empty.
if redis.call("EXISTS", KEYS[2]) == 1 then
  return nil
end
local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
if not id then
  return nil
end
local key = ARGV[2] .. id
local traced = ARGV[3] == "1"
local since = false
if traced then
  since = redis.call("HGET", key, "pending_since")
end
redis.call("HSET", key, "state", "active")
redis.call("HDEL", key, "pending_since")
redis.call("ZADD", KEYS[4], ARGV[1], id)
local msg = redis.call("HGET", key, "msg")
if traced and msg then
  return {msg, since}
end
return msg
