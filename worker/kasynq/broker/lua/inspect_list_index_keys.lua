-- Live members of asynq:servers / asynq:workers / asynq:schedulers; prunes the expired ones
-- (asynq v0.26.0 listServerKeysCmd, listWorkersCmd, listSchedulerKeysCmd: reads mutate).
-- KEYS[1] index zset
-- ARGV[1] now (Unix s)
-- Returns members with score >= now after removing those with score <= now - 1.
local now = tonumber(ARGV[1])
local keys = redis.call("ZRANGEBYSCORE", KEYS[1], now, "+inf")
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now - 1)
return keys
