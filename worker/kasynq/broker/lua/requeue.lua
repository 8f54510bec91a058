-- Put an active task back at the dequeue end of pending (shutdown abort, rdb.Requeue).
-- KEYS: active, lease, pending, task key. ARGV: task ID.
-- #include stats
if not leave_active(KEYS[1], KEYS[2], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
redis.call("RPUSH", KEYS[3], ARGV[1])
redis.call("HSET", KEYS[4], "state", "pending")
return redis.status_reply("OK")
