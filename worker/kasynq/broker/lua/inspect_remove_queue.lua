-- Remove a queue's task lists (asynq v0.26.0 removeQueueCmd / removeQueueForceCmd).
-- Completed tasks, groups, counters, locks and the paused flag are left behind, as in Go.
-- KEYS[1] pending, KEYS[2] active, KEYS[3] scheduled, KEYS[4] retry, KEYS[5] archived,
-- KEYS[6] lease
-- ARGV[1] task key prefix, ARGV[2] force (1/0)
-- Returns 1 removed, -1 not empty (without force), -2 active tasks (with force).
local function ids_of(i)
  if i <= 2 then
    return redis.call("LRANGE", KEYS[i], 0, -1)
  end
  return redis.call("ZRANGE", KEYS[i], 0, -1)
end
if ARGV[2] == "1" then
  if redis.call("LLEN", KEYS[2]) > 0 then
    return -2
  end
  for i = 1, 5 do
    for _, id in ipairs(ids_of(i)) do
      redis.call("DEL", ARGV[1] .. id)
    end
  end
else
  for i = 1, 5 do
    if #ids_of(i) > 0 then
      return -1
    end
  end
end
for i = 1, 6 do
  redis.call("DEL", KEYS[i])
end
return 1
