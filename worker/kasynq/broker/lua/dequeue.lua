-- Move the oldest pending task of one queue to active with a lease (spec 3.7).
-- KEYS: pending, paused, active, lease. ARGV: lease expiry Unix s, task key prefix.
-- Returns the encoded message, or nil when the queue is paused or empty.
if redis.call("EXISTS", KEYS[2]) == 1 then
  return nil
end
local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
if not id then
  return nil
end
local key = ARGV[2] .. id
redis.call("HSET", key, "state", "active")
redis.call("HDEL", key, "pending_since")
redis.call("ZADD", KEYS[4], ARGV[1], id)
return redis.call("HGET", key, "msg")
