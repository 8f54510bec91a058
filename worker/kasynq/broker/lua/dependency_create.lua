-- Create a task that waits for its dependencies (wire-protocol.md §13.2, §13.5 step 3): a
-- scheduled task scored WAITING_SCORE, which Go's forwarder never reaches, and its wait hash.
-- KEYS: task key, scheduled, wait hash, [asynq:queues].
-- ARGV: encoded message, task ID, WAITING_SCORE, policy, dependency refs..., [queue name].
-- Returns 1 when created, 0 when the task ID already exists in the queue.
-- #include register
-- #include scheduled
register_queue(3)
if not create_scheduled(KEYS[1], KEYS[2], ARGV[1], ARGV[3], ARGV[2]) then
  return 0
end
local last = #ARGV
if #KEYS == 4 then
  last = last - 1
end
redis.call("DEL", KEYS[3])
redis.call("HSET", KEYS[3], "policy", ARGV[4], "remaining", last - 4)
local fields = {}
for index = 5, last do
  fields[#fields + 1] = ARGV[index]
  fields[#fields + 1] = (index - 5) .. ":waiting"
  if #fields == 1000 or index == last then -- unpack has a stack limit
    redis.call("HSET", KEYS[3], unpack(fields))
    fields = {}
  end
end
return 1
