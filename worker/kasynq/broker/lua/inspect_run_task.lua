-- Move one task to pending (asynq v0.26.0 runTaskCmd, wire-protocol.md §10.6); no pending_since
-- is set.
-- KEYS[1] task key, KEYS[2] pending, KEYS[3] groups
-- ARGV[1] task id, ARGV[2] queue key prefix, ARGV[3] group key prefix
-- Returns 1 moved, 0 not found, -1 active, -2 already pending.
-- #include inspect_detach
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
local state, group = unpack(redis.call("HMGET", KEYS[1], "state", "group"))
if state == "active" then
  return -1
elseif state == "pending" then
  return -2
end
local err = detach_task(ARGV[1], state, group, ARGV[2], ARGV[3], KEYS[3], 0)
if err then
  return err
end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "pending")
return 1
