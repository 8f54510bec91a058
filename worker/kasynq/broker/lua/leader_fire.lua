-- Fire one scheduler tick: at most once per (group, entry, tick), and only by the leader
-- holding the newest fencing token. The task is created by the broker's own script for the
-- routing (enqueue, schedule, group, unique variants), spliced in below as `create`.
-- KEYS: the group's ticks hash in the queue's slot, then the task script's KEYS.
-- ARGV: fencing token, entry ID, tick Unix s, then the task script's ARGV.
-- Returns {status, created}: status 1 fired, 0 tick already fired, -1 fenced off;
-- created is the task script's result (1 created, 0 task ID exists, -1 unique lock held).
local function create(KEYS, ARGV)
-- #task_script
end

local state = KEYS[1]
local fence = tonumber(redis.call("HGET", state, "fence") or 0)
local token = tonumber(ARGV[1])
if token < fence then
  return {-1, 0}
end
if token > fence then
  redis.call("HSET", state, "fence", ARGV[1])
end
local field = "tick:" .. ARGV[2]
local tick = tonumber(ARGV[3])
if tick <= tonumber(redis.call("HGET", state, field) or -1) then
  return {0, 0}
end
local task_keys, task_args = {}, {}
for i = 2, #KEYS do
  task_keys[#task_keys + 1] = KEYS[i]
end
for i = 4, #ARGV do
  task_args[#task_args + 1] = ARGV[i]
end
local created = create(task_keys, task_args)
redis.call("HSET", state, field, ARGV[3])
return {1, created}
