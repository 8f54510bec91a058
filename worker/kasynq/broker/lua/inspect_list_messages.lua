-- A page of a task-ID list with each task's msg and result (asynq v0.26.0 listMessagesCmd).
-- KEYS[1] pending or active list
-- ARGV[1] start index, ARGV[2] stop index, ARGV[3] task key prefix
-- Returns {msg1, result1, msg2, result2, ...}; missing fields come back as nil.
local data = {}
for _, id in ipairs(redis.call("LRANGE", KEYS[1], ARGV[1], ARGV[2])) do
  local msg, result = unpack(redis.call("HMGET", ARGV[3] .. id, "msg", "result"))
  table.insert(data, msg)
  table.insert(data, result)
end
return data
