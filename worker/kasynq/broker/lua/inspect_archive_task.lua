-- Archive one task (asynq v0.26.0 archiveTaskCmd, wire-protocol.md §10.6). The message is not
-- modified and the archive trim leaves trimmed tasks' hashes in place, as in Go.
-- KEYS[1] task key, KEYS[2] archived, KEYS[3] groups
-- ARGV[1] task id, ARGV[2] now (Unix s), ARGV[3] cutoff (Unix s, 90 days ago),
-- ARGV[4] max archive size, ARGV[5] queue key prefix, ARGV[6] group key prefix
-- Returns 1 archived, 0 not found, -1 already archived, -2 active.
-- #include inspect_detach
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
local state, group = unpack(redis.call("HMGET", KEYS[1], "state", "group"))
if state == "active" then
  return -2
end
if state == "archived" then
  return -1
end
local err = detach_task(ARGV[1], state, group, ARGV[5], ARGV[6], KEYS[3], 1)
if err then
  return err
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[3])
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -ARGV[4])
return 1
