-- Move every task of a scheduled/retry/archived zset to pending (asynq v0.26.0 runAllCmd).
-- KEYS[1] source zset, KEYS[2] pending
-- ARGV[1] task key prefix
-- Returns the number of tasks moved.
local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("LPUSH", KEYS[2], id)
  redis.call("HSET", ARGV[1] .. id, "state", "pending")
end
redis.call("DEL", KEYS[1])
return #ids
