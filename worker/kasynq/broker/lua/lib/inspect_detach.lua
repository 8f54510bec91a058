-- Shared by the inspector's single-task scripts (run, archive, delete; wire-protocol.md §10.6).
-- Removes task `id` from the list or zset its `state` keeps it in: `pending` by LREM with
-- `lrem_count`, `aggregating` from its group zset (an emptied group leaves `groups_key`),
-- any other state from the queue's zset of that name. Returns an error reply when the ID is
-- not where its state says (the caller returns it), else nil.
local function detach_task(id, state, group, queue_prefix, group_prefix, groups_key, lrem_count)
  if state == "pending" then
    if redis.call("LREM", queue_prefix .. state, lrem_count, id) == 0 then
      return redis.error_reply("task id not found in list " .. queue_prefix .. state)
    end
  elseif state == "aggregating" then
    local group_key = group_prefix .. group
    if redis.call("ZREM", group_key, id) == 0 then
      return redis.error_reply("task id not found in zset " .. group_key)
    end
    if redis.call("ZCARD", group_key) == 0 then
      redis.call("SREM", groups_key, group)
    end
  elseif redis.call("ZREM", queue_prefix .. state, id) == 0 then
    return redis.error_reply("task id not found in zset " .. queue_prefix .. state)
  end
  return nil
end
