-- Link a dependant to a dependency, in the dependency's slot (wire-protocol.md §13.5 step 4).
-- KEYS: task key, dependants set, dependency hash, depended zset.
-- ARGV: dependant ref, now Unix s, minimum retention s, header name, header value, task ID.
-- Returns "linked", or the outcome when the dependency is settled already: "completed",
-- "archived" or "deleted" (nothing is linked then).
-- #include protobuf
local outcome = redis.call("HGET", KEYS[3], "outcome")
if outcome then
  return outcome
end
local state, msg = unpack(redis.call("HMGET", KEYS[1], "state", "msg"))
if not state then
  return "deleted"
end
if state == "completed" or state == "archived" then
  return state
end
redis.call("SADD", KEYS[2], ARGV[1])
redis.call("ZADD", KEYS[4], "NX", ARGV[2], ARGV[6])
if state == "active" then
  -- its worker writes the message it dequeued: §13.4
  if pb_last_varint(msg, PB_RETENTION) < tonumber(ARGV[3]) then
    redis.call("HSET", KEYS[3], "unretained", 1)
  end
else
  local marked = pb_mark_dependency(msg, ARGV[3], ARGV[4], ARGV[5])
  if marked ~= msg then
    redis.call("HSET", KEYS[1], "msg", marked)
  end
  redis.call("HDEL", KEYS[3], "unretained")
end
return "linked"
