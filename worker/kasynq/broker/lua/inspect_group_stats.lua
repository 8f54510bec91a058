-- Name and size of every group of a queue (asynq v0.26.0 groupStatsCmd).
-- KEYS[1] groups
-- ARGV[1] group key prefix
-- Returns {group1, size1, group2, size2, ...}.
local res = {}
for _, gname in ipairs(redis.call("SMEMBERS", KEYS[1])) do
  table.insert(res, gname)
  table.insert(res, redis.call("ZCARD", ARGV[1] .. gname))
end
return res
