-- Archive every task of one group (asynq v0.26.0 archiveAllAggregatingCmd).
-- KEYS[1] group zset, KEYS[2] archived, KEYS[3] groups
-- ARGV[1] now (Unix s), ARGV[2] cutoff (Unix s), ARGV[3] max archive size,
-- ARGV[4] task key prefix, ARGV[5] group name
-- Returns the number of tasks archived.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("ZADD", KEYS[2], ARGV[1], id)
  redis.call("HSET", ARGV[4] .. id, "state", "archived")
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -ARGV[3])
redis.call("DEL", KEYS[1])
redis.call("SREM", KEYS[3], ARGV[5])
return #ids
