-- Archive every task of the pending list, a scheduled/retry zset or one group (asynq
-- v0.26.0 archiveAllPendingCmd, archiveAllCmd, archiveAllAggregatingCmd); trimmed tasks'
-- hashes stay, as in Go.
-- KEYS[1] source (pending list, zset or group zset), KEYS[2] archived,
-- KEYS[3] groups (group variant only)
-- ARGV[1] now (Unix s), ARGV[2] cutoff (Unix s), ARGV[3] max archive size,
-- ARGV[4] task key prefix, ARGV[5] group name (group variant only)
-- Returns the number of tasks archived.
local ids
if redis.call("TYPE", KEYS[1])["ok"] == "list" then
  ids = redis.call("LRANGE", KEYS[1], 0, -1)
else
  ids = redis.call("ZRANGE", KEYS[1], 0, -1)
end
for _, id in ipairs(ids) do
  redis.call("ZADD", KEYS[2], ARGV[1], id)
  redis.call("HSET", ARGV[4] .. id, "state", "archived")
end
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -ARGV[3])
redis.call("DEL", KEYS[1])
if KEYS[3] then
  redis.call("SREM", KEYS[3], ARGV[5])
end
return #ids
