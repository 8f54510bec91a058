-- Queue registration inside the enqueue scripts (wire-protocol.md §4.3, §12.5). On standalone
-- Redis the client passes `asynq:queues` as one extra last key and the queue name as one extra
-- last argument, so registering costs no extra command; on Cluster (another slot) it pipelines
-- register_queue.lua instead and passes only Go's keys.
local function register_queue(go_key_count)
  if #KEYS == go_key_count + 1 then
    redis.call("SADD", KEYS[go_key_count + 1], ARGV[#ARGV])
  end
end
