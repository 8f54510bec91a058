-- Delete every task of one group; unique locks are NOT released, as in Go
-- (asynq v0.26.0 deleteAllAggregatingCmd).
-- KEYS[1] group zset, KEYS[2] groups
-- ARGV[1] task key prefix, ARGV[2] group name
-- Returns the number of tasks deleted.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("DEL", ARGV[1] .. id)
end
redis.call("SREM", KEYS[2], ARGV[2])
redis.call("DEL", KEYS[1])
return #ids
