-- Schedule a task for later (rdb.Schedule); no pending_since and no group field, as in Go.
-- KEYS: task key, scheduled zset. ARGV: encoded message, process-at Unix s, task ID.
-- Returns 1 when scheduled, 0 when the task ID already exists in the queue.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(2)
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled")
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
return 1
