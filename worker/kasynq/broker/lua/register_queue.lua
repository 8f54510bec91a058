-- Register a queue name so inspectors list it; pipelined before enqueue scripts on Cluster
-- (wire-protocol.md §12.5).
-- KEYS: asynq:queues. ARGV: queue name.
return redis.call("SADD", KEYS[1], ARGV[1])
