-- Autoscaling sample of one queue, read-only (operator's queue-metrics sampler).
-- KEYS[1] pending, KEYS[2] active, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] completed, KEYS[7] processed, KEYS[8] failed, KEYS[9] paused, KEYS[10] groups,
-- KEYS[11] lease
-- ARGV[1] task key prefix, ARGV[2] group key prefix, ARGV[3] due-soon horizon (Unix s),
-- ARGV[4] how many tail tasks to look at for pending_since, ARGV[5] now (Unix s)
-- Returns: pending, active, scheduled, retry, archived, completed, processed total, failed
-- total, paused (0/1), scheduled due soon, retry due soon, aggregating, pending_since
-- (Unix ns, as a string) of the oldest pending task that has one, or 0, and the active tasks
-- whose lease has not expired. A task requeued at shutdown sits at the tail without
-- pending_since (wire-protocol.md §2.4), so the next ones are tried. A dead server's tasks
-- stay in the active list until the recoverer moves them; their leases are no longer
-- extended, so they drop out of the last count once their lease expires.
local res = {
  redis.call("LLEN", KEYS[1]),
  redis.call("LLEN", KEYS[2]),
  redis.call("ZCARD", KEYS[3]),
  redis.call("ZCARD", KEYS[4]),
  redis.call("ZCARD", KEYS[5]),
  redis.call("ZCARD", KEYS[6]),
}
for i = 7, 8 do
  local n = redis.call("GET", KEYS[i])
  table.insert(res, n and tonumber(n) or 0)
end
table.insert(res, redis.call("EXISTS", KEYS[9]))
table.insert(res, redis.call("ZCOUNT", KEYS[3], "-inf", ARGV[3]))
table.insert(res, redis.call("ZCOUNT", KEYS[4], "-inf", ARGV[3]))
local aggregating = 0
for _, group in ipairs(redis.call("SMEMBERS", KEYS[10])) do
  aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. group)
end
table.insert(res, aggregating)
local oldest = 0
local tail = redis.call("LRANGE", KEYS[1], -tonumber(ARGV[4]), -1)
for i = #tail, 1, -1 do
  local since = redis.call("HGET", ARGV[1] .. tail[i], "pending_since")
  if since then
    oldest = since
    break
  end
end
table.insert(res, oldest)
table.insert(res, redis.call("ZCOUNT", KEYS[11], ARGV[5], "+inf"))
return res
