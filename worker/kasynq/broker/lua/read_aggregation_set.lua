-- Messages of an aggregation set's tasks, by ascending group score (rdb.ReadAggregationSet).
-- KEYS: set key. ARGV: task key prefix.
local messages = {}
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  table.insert(messages, redis.call("HGET", ARGV[1] .. id, "msg"))
end
return messages
