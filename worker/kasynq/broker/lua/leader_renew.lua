-- Extend the leader lock only while we still own it (compare-and-extend).
-- KEYS: leader lock. ARGV: owner ID, lock TTL in ms. Returns 1 when extended, else 0.
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
