-- Delete a server's info and workers keys (spec 3.22). KEYS: server info key, workers key.
redis.call("DEL", KEYS[1])
redis.call("DEL", KEYS[2])
return redis.status_reply("OK")
