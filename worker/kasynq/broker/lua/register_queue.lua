-- Register a queue name so inspectors list it (spec 3.0); pipelined before enqueue scripts.
-- KEYS: asynq:queues. ARGV: queue name.
return redis.call("SADD", KEYS[1], ARGV[1])
