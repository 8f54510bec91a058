-- Enqueue a pending task (rdb.Enqueue).
-- KEYS: task key, pending list. ARGV: encoded message, task ID, now in Unix ns.
-- Returns 1 when enqueued, 0 when the task ID already exists in the queue.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(2)
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
redis.call("LPUSH", KEYS[2], ARGV[2])
return 1
