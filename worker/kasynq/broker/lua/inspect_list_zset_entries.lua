-- A page of a task-ID zset with msg, score and result (asynq v0.26.0 listZSetEntriesCmd).
-- KEYS[1] scheduled, retry, archived, completed or group zset
-- ARGV[1] start rank, ARGV[2] stop rank, ARGV[3] task key prefix
-- Returns {msg1, score1, result1, ...}; missing fields come back as nil.
local data = {}
local id_score_pairs = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2], "WITHSCORES")
for i = 1, #id_score_pairs, 2 do
  local msg, result = unpack(redis.call("HMGET", ARGV[3] .. id_score_pairs[i], "msg", "result"))
  table.insert(data, msg)
  table.insert(data, id_score_pairs[i + 1])
  table.insert(data, result)
end
return data
