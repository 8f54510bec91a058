-- The tasks waiting for a task (wire-protocol.md §13.3 `dependants`), for the web console:
-- {how many, up to ARGV[1] of their refs}; {0, {}} when none waits for it.
-- KEYS: dependants set. ARGV: most refs returned.
return {redis.call("SCARD", KEYS[1]), redis.call("SRANDMEMBER", KEYS[1], ARGV[1])}
