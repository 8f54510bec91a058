-- What an enqueue needs to know of a dependency before creating its dependant
-- (wire-protocol.md §13.5 step 2): the recorded outcome, else the task's state, else nil.
-- KEYS: task key, dependency hash.
local outcome = redis.call("HGET", KEYS[2], "outcome")
if outcome then
  return outcome
end
return redis.call("HGET", KEYS[1], "state")
