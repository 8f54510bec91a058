-- Names of all queues (asynq:queues), as a script so that it rides in the same pipeline as
-- the per-queue statistics scripts of the web console's overview (wire-protocol.md §10.1).
-- KEYS[1] asynq:queues
return redis.call("SMEMBERS", KEYS[1])
