-- Enqueue a pending task holding a unique lock (rdb.EnqueueUnique).
-- KEYS: unique key, task key, pending list. ARGV: task ID, lock TTL s, encoded message, now ns.
-- Returns 1 when enqueued, 0 on a task ID conflict (the lock stays set, as in Go),
-- -1 when the lock is held by another task.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(3)
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
  return -1
end
if redis.call("EXISTS", KEYS[2]) == 1 then
  return 0
end
redis.call("HSET", KEYS[2], "msg", ARGV[3], "state", "pending", "pending_since", ARGV[4],
           "unique_key", KEYS[1])
redis.call("LPUSH", KEYS[3], ARGV[1])
return 1
