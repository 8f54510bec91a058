-- Delete a successfully processed task (rdb.Done).
-- KEYS: active, lease, task key, processed:<date>, processed, [unique key].
-- ARGV: task ID, stats expiry Unix s, max int64.
-- #include stats
if not leave_active(KEYS[1], KEYS[2], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
if redis.call("DEL", KEYS[3]) == 0 then
  return redis.error_reply("NOT FOUND")
end
count_success(KEYS[4], KEYS[5], ARGV[2], ARGV[3])
if #KEYS == 6 and redis.call("GET", KEYS[6]) == ARGV[1] then
  redis.call("DEL", KEYS[6])
end
return redis.status_reply("OK")
