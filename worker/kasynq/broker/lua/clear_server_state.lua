-- Delete a server's info and workers keys (rdb.ClearServerState).
-- KEYS: server info key, workers key.
redis.call("DEL", KEYS[1])
redis.call("DEL", KEYS[2])
return redis.status_reply("OK")
