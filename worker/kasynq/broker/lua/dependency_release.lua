-- Release one edge of a waiting task, in the dependant's slot (wire-protocol.md §13.6).
-- KEYS: wait hash, task key, scheduled, pending, archived.
-- ARGV: dependency ref, outcome, task ID, now Unix s, now Unix ns, WAITING_SCORE, reason,
-- archive age cutoff Unix s, record TTL s, max archive size.
-- Returns 0 nothing to do, 1 still waiting, 2 now pending, 3 archived, 4 no longer waiting.
-- #include protobuf
local field = redis.call("HGET", KEYS[1], ARGV[1])
if not field then
  return 0
end
local position, state = string.match(field, "^(%d+):(.*)$")
if state ~= "waiting" then
  return 0
end
local score = redis.call("ZSCORE", KEYS[3], ARGV[3])
if redis.call("HGET", KEYS[2], "state") ~= "scheduled" or not score
    or tonumber(score) ~= tonumber(ARGV[6]) then
  redis.call("DEL", KEYS[1]) -- run, archived or deleted by hand
  return 4
end
redis.call("HSET", KEYS[1], ARGV[1], position .. ":" .. ARGV[2])
if ARGV[2] ~= "completed" and redis.call("HGET", KEYS[1], "policy") == "archive" then
  local msg = redis.call("HGET", KEYS[2], "msg")
  redis.call("ZREM", KEYS[3], ARGV[3])
  redis.call("ZADD", KEYS[5], ARGV[4], ARGV[3])
  redis.call("HSET", KEYS[2], "msg", pb_mark_failed(msg, ARGV[7], tonumber(ARGV[4])),
    "state", "archived")
  redis.call("ZREMRANGEBYSCORE", KEYS[5], "-inf", ARGV[8])
  redis.call("ZREMRANGEBYRANK", KEYS[5], 0, -ARGV[10])
  redis.call("EXPIRE", KEYS[1], ARGV[9])
  return 3
end
if redis.call("HINCRBY", KEYS[1], "remaining", -1) > 0 then
  return 1
end
-- as Go's forwarder moves a due task (wire-protocol.md §4.16)
redis.call("ZREM", KEYS[3], ARGV[3])
redis.call("LPUSH", KEYS[4], ARGV[3])
redis.call("HSET", KEYS[2], "state", "pending", "pending_since", ARGV[5])
redis.call("EXPIRE", KEYS[1], ARGV[9])
return 2
