-- Delete every pending task; unique locks are NOT released, as in Go
-- (asynq v0.26.0 deleteAllPendingCmd).
-- KEYS[1] pending
-- ARGV[1] task key prefix
-- Returns the number of tasks deleted.
local ids = redis.call("LRANGE", KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  redis.call("DEL", ARGV[1] .. id)
end
redis.call("DEL", KEYS[1])
return #ids
