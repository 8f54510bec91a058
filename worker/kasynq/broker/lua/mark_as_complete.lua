-- Keep a successfully processed task as completed until its retention expires (rdb.MarkAsComplete).
-- KEYS: active, lease, completed, task key, processed:<date>, processed, [unique key].
-- ARGV: task ID, stats expiry Unix s, completed expiry Unix s, encoded message, max int64.
-- #include stats
if not leave_active(KEYS[1], KEYS[2], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
  return redis.error_reply("INTERNAL")
end
redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
count_success(KEYS[5], KEYS[6], ARGV[2], ARGV[5])
if #KEYS == 7 and redis.call("GET", KEYS[7]) == ARGV[1] then
  redis.call("DEL", KEYS[7])
end
return redis.status_reply("OK")
