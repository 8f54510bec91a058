-- Settle a dependency, in its slot (wire-protocol.md §13.6): its outcome, recorded once, and
-- the refs of its dependants; {} while it is not final.
-- KEYS: task key, dependants set, dependency hash.
local outcome = redis.call("HGET", KEYS[3], "outcome")
if not outcome then
  local state = redis.call("HGET", KEYS[1], "state")
  if state == "completed" or state == "archived" then
    outcome = state
  elseif not state then
    -- gone: completed by a worker holding a message without retention, or deleted (§13.4)
    outcome = redis.call("HEXISTS", KEYS[3], "unretained") == 1 and "completed" or "deleted"
  else
    return {}
  end
  redis.call("HSET", KEYS[3], "outcome", outcome)
end
local result = redis.call("SMEMBERS", KEYS[2])
table.insert(result, 1, outcome)
return result
