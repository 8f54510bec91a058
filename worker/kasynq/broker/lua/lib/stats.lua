-- Counter updates shared by the completion scripts (wire-protocol.md §4.2).
-- Daily keys expire 90 days after the day's first increment; totals wrap to 1 at the
-- maximum int64, compared as Lua numbers exactly as Go's scripts do.
local function count_daily(key, expire_at)
  if redis.call("INCR", key) == 1 then
    redis.call("EXPIREAT", key, expire_at)
  end
end

local function total_is_max(key, max_int)
  return tonumber(redis.call("GET", key)) == tonumber(max_int)
end

local function count_success(processed_daily, processed_total, expire_at, max_int)
  count_daily(processed_daily, expire_at)
  if total_is_max(processed_total, max_int) then
    redis.call("SET", processed_total, 1)
  else
    redis.call("INCR", processed_total)
  end
end

local function count_failure(processed_daily, failed_daily, processed_total, failed_total,
                             expire_at, max_int)
  count_daily(processed_daily, expire_at)
  count_daily(failed_daily, expire_at)
  if total_is_max(processed_total, max_int) then
    redis.call("SET", processed_total, 1)
    redis.call("SET", failed_total, 1)
  else
    redis.call("INCR", processed_total)
    redis.call("INCR", failed_total)
  end
end

-- Removes the task from active and lease; false when either did not hold it.
local function leave_active(active, lease, id)
  if redis.call("LREM", active, 0, id) == 0 then
    return false
  end
  return redis.call("ZREM", lease, id) ~= 0
end
