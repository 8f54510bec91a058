-- Creating a scheduled task (rdb.Schedule, wire-protocol.md §4.6), shared with the waiting
-- tasks of §13.2: false when the ID exists in the queue, else the hash (no pending_since, no
-- group field, as in Go) and its zset member.
local function create_scheduled(task_key, scheduled_key, msg, score, id)
  if redis.call("EXISTS", task_key) == 1 then
    return false
  end
  redis.call("HSET", task_key, "msg", msg, "state", "scheduled")
  redis.call("ZADD", scheduled_key, score, id)
  return true
end
