-- Schedule a task for later (rdb.Schedule); no pending_since and no group field, as in Go.
-- KEYS: task key, scheduled zset. ARGV: encoded message, process-at Unix s, task ID.
-- Returns 1 when scheduled, 0 when the task ID already exists in the queue.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
-- #include scheduled
register_queue(2)
if not create_scheduled(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]) then
  return 0
end
return 1
