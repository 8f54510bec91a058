-- Queue statistics for Inspector.GetQueueInfo (asynq v0.26.0 currentStatsCmd,
-- wire-protocol.md §10.1).
-- KEYS[1] pending, KEYS[2] active, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed, KEYS[7] processed:<date>, KEYS[8] failed:<date>, KEYS[9] processed,
-- KEYS[10] failed, KEYS[11] paused, KEYS[12] groups
-- ARGV[1] task key prefix, ARGV[2] group key prefix
-- Returns a fixed-position array: the six state sizes, the four counters (0 if absent),
-- paused (0/1), pending_since of the pending tail (nil if the field is absent, 0 if pending
-- is empty), the number of groups and the number of aggregating tasks.
local pending = redis.call("LLEN", KEYS[1])
local res = {
  pending,
  redis.call("LLEN", KEYS[2]),
  redis.call("ZCARD", KEYS[3]),
  redis.call("ZCARD", KEYS[4]),
  redis.call("ZCARD", KEYS[5]),
  redis.call("ZCARD", KEYS[6]),
}
for i = 7, 10 do
  local n = redis.call("GET", KEYS[i])
  table.insert(res, n and tonumber(n) or 0)
end
table.insert(res, redis.call("EXISTS", KEYS[11]))
if pending > 0 then
  local id = redis.call("LRANGE", KEYS[1], -1, -1)[1]
  table.insert(res, redis.call("HGET", ARGV[1] .. id, "pending_since"))
else
  table.insert(res, 0)
end
local group_names = redis.call("SMEMBERS", KEYS[12])
local aggregating = 0
for _, gname in ipairs(group_names) do
  aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. gname)
end
table.insert(res, #group_names)
table.insert(res, aggregating)
return res
