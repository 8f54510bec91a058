-- Daily processed/failed counters for Inspector.History (asynq v0.26.0 historicalStatsCmd).
-- KEYS: processed:<day0>, failed:<day0>, processed:<day1>, failed:<day1>, ...
-- Returns one integer per key, 0 for missing keys.
local res = {}
for _, key in ipairs(KEYS) do
  local n = redis.call("GET", key)
  table.insert(res, n and tonumber(n) or 0)
end
return res
