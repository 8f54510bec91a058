-- Move every task of one group to pending (asynq v0.26.0 runAllAggregatingCmd).
-- KEYS[1] group zset, KEYS[2] pending, KEYS[3] groups
-- ARGV[1] task key prefix, ARGV[2] group name
-- Returns the number of tasks moved.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("LPUSH", KEYS[2], id)
  redis.call("HSET", ARGV[1] .. id, "state", "pending")
end
redis.call("DEL", KEYS[1])
redis.call("SREM", KEYS[3], ARGV[2])
return #ids
