-- Move the fencing-token counter past a fence it fell behind (the lock's node lost its data
-- while a queue's node kept the fence), only while we still own the lock.
-- KEYS: leader lock, token counter. ARGV: owner ID, highest fence seen.
-- Returns our new token, above the fence, or 0 when the lock is not ours.
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
  return 0
end
local token = redis.call("INCR", KEYS[2])
if token <= tonumber(ARGV[2]) then
  token = tonumber(ARGV[2]) + 1
  redis.call("SET", KEYS[2], token)
end
return token
