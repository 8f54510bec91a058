-- Hold back a rate-limited active task until ARGV[2] (wire-protocol.md §16): to scheduled,
-- message untouched (retried, error_msg stay), no counter moved.
-- KEYS: active, lease, scheduled, task key. ARGV: task ID, process-at Unix s.
-- #include stats
if not leave_active(KEYS[1], KEYS[2], ARGV[1]) then
  return redis.error_reply("NOT FOUND")
end
redis.call("ZADD", KEYS[3], ARGV[2], ARGV[1])
redis.call("HSET", KEYS[4], "state", "scheduled")
return redis.status_reply("OK")
