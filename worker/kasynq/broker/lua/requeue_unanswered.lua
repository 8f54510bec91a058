-- Put back at the dequeue end of pending the active tasks whose dequeue reply never arrived
-- (kasynq; same state change as requeue.lua, wire-protocol.md §4.13): lease score still the one the lost
-- dequeues gave (no server extended it since) and not held by the calling server.
-- KEYS: active, lease, pending. ARGV: lowest lease score, highest lease score, task key
-- prefix, then the IDs the calling server holds. Returns the IDs put back.
local held = {}
for i = 4, #ARGV do
  held[ARGV[i]] = true
end
local requeued = {}
for _, id in ipairs(redis.call("ZRANGEBYSCORE", KEYS[2], ARGV[1], ARGV[2])) do
  if not held[id] and redis.call("LREM", KEYS[1], 0, id) ~= 0 then
    redis.call("ZREM", KEYS[2], id)
    redis.call("RPUSH", KEYS[3], id)
    redis.call("HSET", ARGV[3] .. id, "state", "pending")
    table.insert(requeued, id)
  end
end
return requeued
