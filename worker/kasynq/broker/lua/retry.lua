-- Move a failed active task to the retry zset (rdb.Retry).
-- KEYS: task key, active, lease, retry, processed:<date>, failed:<date>, processed, failed.
-- ARGV: task ID, encoded message, retry-at Unix s, stats expiry Unix s, is failure (1/0),
-- max int64.
-- #include stats
if not leave_active(KEYS[2], KEYS[3], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
if tonumber(ARGV[5]) == 1 then
  count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[4], ARGV[6])
end
return redis.status_reply("OK")
