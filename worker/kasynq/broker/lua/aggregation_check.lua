-- Stage a group's tasks into a new aggregation set when the group is due (rdb.AggregationCheck).
-- KEYS: group zset, new set key, aggregation_sets, groups.
-- ARGV: max size, max delay s, grace period s, set deadline Unix s, check time Unix s, group.
-- Returns 1 when a set was created, 0 otherwise.
local max_size = tonumber(ARGV[1])
local max_delay = tonumber(ARGV[2])
local check_time = tonumber(ARGV[5])

-- Moves the max_size oldest members (all when max_size is 0) into the set with their scores.
local function stage(group_emptied)
  local members = redis.call("ZRANGE", KEYS[1], 0, max_size - 1, "WITHSCORES")
  for i = 1, #members - 1, 2 do
    redis.call("ZADD", KEYS[2], tonumber(members[i + 1]), members[i])
  end
  redis.call("ZREMRANGEBYRANK", KEYS[1], 0, max_size - 1)
  redis.call("ZADD", KEYS[3], ARGV[4], KEYS[2])
  if group_emptied then
    redis.call("SREM", KEYS[4], ARGV[6])
  end
  return 1
end

local size = redis.call("ZCARD", KEYS[1])
if size == 0 then
  return 0
end
if max_size ~= 0 and size >= max_size then
  return stage(size == max_size)
end
local takes_all = size <= max_size or max_size == 0
if max_delay ~= 0 then
  local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
  if tonumber(oldest[2]) <= check_time - max_delay then
    return stage(takes_all)
  end
end
local newest = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
if tonumber(newest[2]) <= check_time - tonumber(ARGV[3]) then
  return stage(takes_all)
end
return 0
