-- Add a task to an aggregation group (rdb.AddToGroup).
-- KEYS: task key, group zset, groups set. ARGV: encoded message, task ID, now Unix s, group.
-- Returns 1 when added, 0 when the task ID already exists in the queue.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(3)
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
