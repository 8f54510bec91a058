-- Delete one task, releasing its unique lock if it still owns it (asynq v0.26.0
-- deleteTaskCmd, wire-protocol.md §10.6).
-- KEYS[1] task key, KEYS[2] groups
-- ARGV[1] task id, ARGV[2] queue key prefix, ARGV[3] group key prefix
-- Returns 1 deleted, 0 not found, -1 active.
-- #include inspect_detach
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
local state, group = unpack(redis.call("HMGET", KEYS[1], "state", "group"))
if state == "active" then
  return -1
end
local err = detach_task(ARGV[1], state, group, ARGV[2], ARGV[3], KEYS[2], 0)
if err then
  return err
end
local unique_key = redis.call("HGET", KEYS[1], "unique_key")
if unique_key and unique_key ~= "" and redis.call("GET", unique_key) == ARGV[1] then
  redis.call("DEL", unique_key)
end
return redis.call("DEL", KEYS[1])
