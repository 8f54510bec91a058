-- Rewrite a scheduler's entry list, expiring after ttl (rdb.WriteSchedulerEntries).
-- KEYS: entries key. ARGV: ttl s, then SchedulerEntry bytes (LPUSHed in argument order).
redis.call("DEL", KEYS[1])
for i = 2, #ARGV do
  redis.call("LPUSH", KEYS[1], ARGV[i])
end
redis.call("EXPIRE", KEYS[1], ARGV[1])
return redis.status_reply("OK")
