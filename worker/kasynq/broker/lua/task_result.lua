-- The `result` field of a task hash (wire-protocol.md §4.20), nil when none.
-- KEYS: task key.
return redis.call("HGET", KEYS[1], "result")
