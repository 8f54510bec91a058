-- Give up the leader lock only if we still own it (compare-and-delete).
-- KEYS: leader lock. ARGV: owner ID. Returns 1 when released, else 0.
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
