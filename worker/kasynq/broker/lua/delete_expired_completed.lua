-- Delete up to a batch of completed tasks whose retention expired (wire-protocol.md §4.19).
-- KEYS: completed. ARGV: now Unix s, task key prefix, batch size. Returns the count deleted.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call("DEL", ARGV[2] .. id)
  redis.call("ZREM", KEYS[1], id)
end
return #ids
