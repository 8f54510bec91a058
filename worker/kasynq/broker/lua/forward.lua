-- Move up to 100 due tasks of a scheduled or retry zset on (rdb.ForwardIfReady).
-- Tasks whose hash has a group go to the group zset (aggregating, no SADD to the groups set,
-- as in Go); the others to pending with a fresh pending_since.
-- KEYS: source zset, pending. ARGV: now Unix s, task key prefix, now Unix ns, group prefix.
-- Returns the number of tasks moved.
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
for _, id in ipairs(ids) do
  local key = ARGV[2] .. id
  local group = redis.call("HGET", key, "group")
  if group and group ~= "" then
    redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
    redis.call("ZREM", KEYS[1], id)
    redis.call("HSET", key, "state", "aggregating")
  else
    redis.call("LPUSH", KEYS[2], id)
    redis.call("ZREM", KEYS[1], id)
    redis.call("HSET", key, "state", "pending", "pending_since", ARGV[3])
  end
end
return #ids
