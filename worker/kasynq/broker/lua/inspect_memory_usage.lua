-- Approximate memory usage of a queue by sampling (asynq v0.26.0 memoryUsageCmd,
-- wire-protocol.md §10.3).
-- KEYS[1] active, KEYS[2] pending, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed, KEYS[7] groups
-- ARGV[1] task key prefix, ARGV[2] task sample size per list/zset, ARGV[3] group sample
-- size, ARGV[4] group key prefix
-- Same sampling and order as Go; a task hash that vanished mid-script counts 0 bytes and a
-- set of empty sampled groups adds nothing (Go v0.26.0 raises an error / returns -2^63 there).
local sample_size = tonumber(ARGV[2])
if sample_size <= 0 then
  return redis.error_reply("sample size must be a positive number")
end
local function usage(key)
  return redis.call("MEMORY", "USAGE", key) or 0
end
local function sampled_total(ids)
  local total = 0
  for _, id in ipairs(ids) do
    total = total + usage(ARGV[1] .. id)
  end
  return total
end
local memusg = 0
for i = 1, 6 do
  local ids, n
  if i <= 2 then
    ids = redis.call("LRANGE", KEYS[i], 0, sample_size - 1)
  else
    ids = redis.call("ZRANGE", KEYS[i], 0, sample_size - 1)
  end
  if #ids > 0 then
    if i <= 2 then
      n = redis.call("LLEN", KEYS[i])
    else
      n = redis.call("ZCARD", KEYS[i])
    end
    memusg = memusg + (sampled_total(ids) / #ids) * n
  end
  memusg = memusg + usage(KEYS[i])
end
local groups = redis.call("SMEMBERS", KEYS[7])
if #groups > 0 then
  local agg_task_count = 0
  local agg_sample_total = 0
  local agg_sample_size = 0
  for i, gname in ipairs(groups) do
    local group_key = ARGV[4] .. gname
    agg_task_count = agg_task_count + redis.call("ZCARD", group_key)
    if i <= tonumber(ARGV[3]) then
      local ids = redis.call("ZRANGE", group_key, 0, sample_size - 1)
      agg_sample_total = agg_sample_total + sampled_total(ids)
      agg_sample_size = agg_sample_size + #ids
    end
  end
  if agg_sample_size > 0 then
    memusg = memusg + (agg_sample_total / agg_sample_size) * agg_task_count
  end
end
return memusg
