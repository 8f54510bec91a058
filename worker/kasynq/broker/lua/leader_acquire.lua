-- Take a scheduler group's leader lock if free, with a new fencing token.
-- KEYS: leader lock, token counter. ARGV: owner ID, lock TTL in ms.
-- Returns the new fencing token, or 0 when another owner holds the lock.
if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then
  return redis.call("INCR", KEYS[2])
end
return 0
