-- Move every task of a scheduled/retry/archived zset, or of one group, to pending
-- (asynq v0.26.0 runAllCmd and runAllAggregatingCmd); no pending_since is set.
-- KEYS[1] source zset, KEYS[2] pending, KEYS[3] groups (group variant only)
-- ARGV[1] task key prefix, ARGV[2] group name (group variant only)
-- Returns the number of tasks moved.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("LPUSH", KEYS[2], id)
  redis.call("HSET", ARGV[1] .. id, "state", "pending")
end
redis.call("DEL", KEYS[1])
if KEYS[3] then
  redis.call("SREM", KEYS[3], ARGV[2])
end
return #ids
