-- The releaser's walk over a queue's depended zset (wire-protocol.md §13.6): IDs of settled
-- dependencies; a flagged message of a task no longer active gets its retention (§13.4).
-- KEYS: depended zset.
-- ARGV: task key prefix, dependency hash prefix, start rank, count, minimum retention s,
-- header name, header value.
-- Returns {number of members read, settled IDs...}.
-- #include protobuf
local ids = redis.call("ZRANGE", KEYS[1], ARGV[3], ARGV[3] + ARGV[4] - 1)
local result = {#ids}
for _, id in ipairs(ids) do
  local dependency = ARGV[2] .. id
  local task = ARGV[1] .. id
  local state, msg = unpack(redis.call("HMGET", task, "state", "msg"))
  if redis.call("HEXISTS", dependency, "outcome") == 1 or not state or state == "completed"
      or state == "archived" then
    result[#result + 1] = id
  elseif state ~= "active" and redis.call("HEXISTS", dependency, "unretained") == 1 then
    redis.call("HSET", task, "msg", pb_mark_dependency(msg, ARGV[5], ARGV[6], ARGV[7]))
    redis.call("HDEL", dependency, "unretained")
  end
end
return result
