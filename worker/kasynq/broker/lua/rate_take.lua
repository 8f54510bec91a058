-- Take a start slot of a rate-limited registration (wire-protocol.md §16), a generic cell
-- rate algorithm on Redis' own clock, so the workers' clocks do not matter.
-- KEYS: rate key. ARGV: interval between starts (µs), longest hold (µs).
-- Answers {1, wait µs}: granted, start after the wait; {0, wait µs}: refused, nothing stored.
local now_parts = redis.call("TIME")
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local slot = tonumber(redis.call("GET", KEYS[1]) or "0")
if slot < now then
  slot = now
end
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return {0, wait}
end
local next_slot = slot + tonumber(ARGV[1])
redis.call("SET", KEYS[1], string.format("%d", next_slot),
  "PX", math.ceil((next_slot - now) / 1000) + 1)
return {1, wait}
