-- Write a server's info and rewrite its workers hash, both expiring after ttl
-- (rdb.WriteServerState).
-- KEYS: server info key, workers key. ARGV: ttl s, ServerInfo bytes, then task ID and
-- WorkerInfo bytes pairs.
redis.call("SETEX", KEYS[1], ARGV[1], ARGV[2])
redis.call("DEL", KEYS[2])
for i = 3, #ARGV - 1, 2 do
  redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call("EXPIRE", KEYS[2], ARGV[1])
return redis.status_reply("OK")
