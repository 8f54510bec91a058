-- Raise a group's fence in one queue to our token, unless a newer token raised it further.
-- KEYS: the group's ticks hash in the queue's slot. ARGV: fencing token.
-- Returns the fence after the call: our token while it is current, else the newer one.
local fence = tonumber(redis.call("HGET", KEYS[1], "fence") or 0)
local token = tonumber(ARGV[1])
if token <= fence then
  return fence
end
redis.call("HSET", KEYS[1], "fence", ARGV[1])
return token
