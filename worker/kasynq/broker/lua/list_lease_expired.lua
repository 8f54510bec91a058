-- Messages of active tasks whose lease expired at or before a cutoff (rdb.ListLeaseExpired).
-- KEYS: lease. ARGV: cutoff Unix s, task key prefix.
local messages = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])) do
  local msg = redis.call("HGET", ARGV[2] .. id, "msg")
  if msg then
    table.insert(messages, msg)
  end
end
return messages
