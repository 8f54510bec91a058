-- After every dependant of a settled dependency was released (wire-protocol.md §13.6).
-- KEYS: dependants set, dependency hash, depended zset. ARGV: task ID, record TTL s.
redis.call("DEL", KEYS[1])
redis.call("EXPIRE", KEYS[2], ARGV[2])
redis.call("ZREM", KEYS[3], ARGV[1])
return 1
