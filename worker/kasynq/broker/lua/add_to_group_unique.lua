-- Add a task holding a unique lock to an aggregation group (rdb.AddToGroupUnique).
-- The hash gets no unique_key field, as in Go: the lock is released only by its TTL.
-- KEYS: task key, group zset, groups set, unique key.
-- ARGV: encoded message, task ID, now Unix s, group, lock TTL s.
-- Returns 1 when added, 0 on a task ID conflict (lock kept), -1 when the lock is held.
-- Optional last KEY asynq:queues and last ARGV queue name: see lib/register.lua.
-- #include register
register_queue(4)
if not redis.call("SET", KEYS[4], ARGV[2], "NX", "EX", ARGV[5]) then
  return -1
end
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[4])
return 1
