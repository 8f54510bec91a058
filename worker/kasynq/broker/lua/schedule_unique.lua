-- Schedule a task holding a unique lock (rdb.ScheduleUnique).
-- KEYS: unique key, task key, scheduled zset.
-- ARGV: task ID, lock TTL s, process-at Unix s, encoded message.
-- Returns 1 when scheduled, 0 on a task ID conflict (lock kept), -1 when the lock is held.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(3)
if not redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
  return -1
end
if redis.call("EXISTS", KEYS[2]) == 1 then
  return 0
end
redis.call("HSET", KEYS[2], "msg", ARGV[4], "state", "scheduled", "unique_key", KEYS[1])
redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
return 1
