-- Archive one task (asynq v0.26.0 archiveTaskCmd, spec 7.6). The message is not modified
-- and the archive trim leaves trimmed tasks' hashes in place, as in Go.
-- KEYS[1] task key, KEYS[2] archived, KEYS[3] groups
-- ARGV[1] task id, ARGV[2] now (Unix s), ARGV[3] cutoff (Unix s, 90 days ago),
-- ARGV[4] max archive size, ARGV[5] queue key prefix, ARGV[6] group key prefix
-- Returns 1 archived, 0 not found, -1 already archived, -2 active.
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
if state == "pending" then
  if redis.call("LREM", ARGV[5] .. state, 1, ARGV[1]) == 0 then
    return redis.error_reply("task id not found in list " .. tostring(ARGV[5] .. state))
  end
elseif state == "aggregating" then
  if redis.call("ZREM", ARGV[6] .. group, ARGV[1]) == 0 then
    return redis.error_reply("task id not found in zset " .. tostring(ARGV[6] .. group))
  end
  if redis.call("ZCARD", ARGV[6] .. group) == 0 then
    redis.call("SREM", KEYS[3], group)
  end
else
  if redis.call("ZREM", ARGV[5] .. state, ARGV[1]) == 0 then
    return redis.error_reply("task id not found in zset " .. tostring(ARGV[5] .. state))
  end
end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[1], "state", "archived")
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[3])
redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -ARGV[4])
return 1
