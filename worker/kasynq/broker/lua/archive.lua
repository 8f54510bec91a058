-- Archive a failed active task and trim the archive (rdb.Archive).
-- KEYS: task key, active, lease, archived, processed:<date>, failed:<date>, processed, failed,
-- task key prefix.
-- ARGV: task ID, encoded message, now Unix s, age cutoff Unix s, max archive size,
-- stats expiry Unix s, max int64.
-- Trimming deletes the dropped tasks' hashes; ranks 0..-size go, so 9 999 of 10 000 stay.
-- #include stats
local function drop(ids)
  for _, id in ipairs(ids) do
    redis.call("DEL", KEYS[9] .. id)
    redis.call("ZREM", KEYS[4], id)
  end
end

if not leave_active(KEYS[2], KEYS[3], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
drop(redis.call("ZRANGE", KEYS[4], "-inf", ARGV[4], "BYSCORE"))
drop(redis.call("ZRANGE", KEYS[4], 0, -tonumber(ARGV[5])))
redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
count_failure(KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[6], ARGV[7])
return redis.status_reply("OK")
