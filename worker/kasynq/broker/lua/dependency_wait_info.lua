-- A waiting task's wait hash (wire-protocol.md §13.3), for cycle checks, the CLI and
-- `dependency_results`: a flat field/value array, empty when the task waits for nothing.
-- KEYS: wait hash.
return redis.call("HGETALL", KEYS[1])
