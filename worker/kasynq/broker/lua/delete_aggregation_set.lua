-- Delete an aggregated set: its tasks' hashes, the set and its index entry
-- (rdb.DeleteAggregationSet).
-- KEYS: set key, aggregation_sets. ARGV: task key prefix.
for _, id in ipairs(redis.call("ZRANGE", KEYS[1], 0, -1)) do
  redis.call("DEL", ARGV[1] .. id)
end
redis.call("DEL", KEYS[1])
redis.call("ZREM", KEYS[2], KEYS[1])
return redis.status_reply("OK")
