-- Replace the message of a scheduled task (asynq v0.26.0 updateTaskPayloadCmd), rewriting
-- the hash's existing state/pending_since/group/unique_key fields unchanged.
-- KEYS[1] task key
-- ARGV[1] encoded message with the new payload
-- Returns 1 updated, 0 not found, -1 not scheduled.
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
local state, pending_since, group, unique_key = unpack(redis.call("HMGET", KEYS[1], "state", "pending_since", "group", "unique_key"))
if state ~= "scheduled" then
  return -1
end
local fields = {"state", state}
for name, value in pairs({pending_since = pending_since, group = group, unique_key = unique_key}) do
  if value then
    table.insert(fields, name)
    table.insert(fields, value)
  end
end
redis.call("HSET", KEYS[1], "msg", ARGV[1], unpack(fields))
return 1
