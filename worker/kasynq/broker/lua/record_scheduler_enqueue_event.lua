-- Add one enqueue event to an entry's history, keeping the newest max events
-- (rdb.RecordSchedulerEnqueueEvent).
-- KEYS: history key. ARGV: enqueue time Unix s, SchedulerEnqueueEvent bytes, max events.
redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -tonumber(ARGV[3]))
redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
return redis.status_reply("OK")
