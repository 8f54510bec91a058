-- Return the tasks of aggregation sets past their deadline to their groups
-- (rdb.ReclaimStaleAggregationSets).
-- The group name is not re-added to the groups set, as in Go.
-- KEYS: aggregation_sets. ARGV: now Unix s.
for _, set_key in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])) do
  local group_key = string.sub(set_key, 1, string.find(set_key, ":[^:]*$") - 1)
  local members = redis.call("ZRANGE", set_key, 0, -1, "WITHSCORES")
  for i = 1, #members - 1, 2 do
    redis.call("ZADD", group_key, tonumber(members[i + 1]), members[i])
  end
  redis.call("DEL", set_key)
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
return redis.status_reply("OK")
