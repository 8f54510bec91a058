"""The Lua loader: scripts run by SHA and survive a flushed script cache, also on Cluster."""

from __future__ import annotations

import redis.asyncio
from kasynq import keys
from kasynq.broker.scripts import load_script, run_pipelined
from redis.asyncio.cluster import RedisCluster


async def test_script_runs_after_script_flush(async_redis: redis.asyncio.Redis) -> None:
    script = load_script("register_queue")
    assert await script.run(async_redis, [keys.ALL_QUEUES], ["a"]) == 1
    await async_redis.script_flush()
    assert await script.run(async_redis, [keys.ALL_QUEUES], ["b"]) == 1
    assert await async_redis.script_exists(script.sha) == [True]
    assert await async_redis.smembers(keys.ALL_QUEUES) == {b"a", b"b"}


async def test_pipelined_calls_fall_back_to_eval(async_redis: redis.asyncio.Redis) -> None:
    script = load_script("register_queue")
    await async_redis.script_flush()
    calls = [script.call([keys.ALL_QUEUES], [name]) for name in ("a", "b", "a")]
    assert await run_pipelined(async_redis, calls) == [1, 1, 0]


def test_includes_are_expanded_once() -> None:
    source = load_script("done").source
    assert "-- #include" not in source
    assert "local function count_success" in source
    assert load_script("done") is load_script("done")


async def test_pipelined_calls_on_cluster(async_redis_cluster: RedisCluster) -> None:
    script = load_script("enqueue")
    await async_redis_cluster.execute_command("SCRIPT FLUSH", target_nodes=RedisCluster.ALL_NODES)
    calls = [
        script.call([keys.task_key(queue, "id"), keys.pending_key(queue)], [b"m", "id", 1])
        for queue in ("q1", "q2", "q3", "q4", "q1")
    ]
    assert await run_pipelined(async_redis_cluster, calls) == [1, 1, 1, 1, 0]
