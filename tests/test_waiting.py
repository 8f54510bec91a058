"""`info.wait(timeout)`: results and final states, woken by Redis client tracking (§14)."""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
from typing import Any

import pytest
import redis
import redis.asyncio
from kasynq import (
    AsyncClient,
    AsyncInspector,
    Client,
    SkipRetry,
    TaskArchivedError,
    TaskDeletedError,
    TaskFailedError,
    WaitTimeoutError,
)
from kasynq.context import TaskContext
from kasynq.server import Server
from kasynq.task import Task

from tests.server_helpers import start_server


async def test_wait_returns_each_result_right_after_completion(
    async_redis: redis.asyncio.Redis, servers: list[Server]
) -> None:
    returned: dict[str, float] = {}

    async def handler(ctx: TaskContext, task: Task) -> None:
        await asyncio.sleep(0.05)  # every waiter is listening before its task ends
        await ctx.result_writer.write(b"done:" + task.payload)
        returned[ctx.task_id] = time.perf_counter()

    client = AsyncClient(async_redis)
    infos = [
        await client.enqueue(Task("wait:echo", str(n).encode()), retention=60) for n in range(50)
    ]
    await start_server(servers, async_redis, handler, concurrency=10)

    async def timed_wait(info: Any) -> tuple[bytes | None, float]:
        result = await info.wait(10)
        return result, time.perf_counter()

    outcomes = await asyncio.gather(*(timed_wait(info) for info in infos))
    assert [result for result, _ in outcomes] == [f"done:{n}".encode() for n in range(50)]
    delays = [woke - returned[info.id] for info, (_, woke) in zip(infos, outcomes, strict=True)]
    assert statistics.median(delays) < 0.05  # the bench measures it (a few ms); generous here


async def test_wait_raises_the_final_state(
    async_redis: redis.asyncio.Redis, servers: list[Server]
) -> None:
    async def handler(ctx: TaskContext, task: Task) -> None:
        if task.type == "wait:fail":
            raise SkipRetry("broken for good")

    client = AsyncClient(async_redis)
    inspector = AsyncInspector(async_redis)
    pending = await client.enqueue(Task("wait:idle"), queue="parked", retention=60)
    with pytest.raises(WaitTimeoutError, match="state=pending") as timed_out:
        await pending.wait(0.2)
    assert timed_out.value.info is not None and timed_out.value.info.id == pending.id
    archived = await client.enqueue(Task("wait:idle"), queue="parked")
    deleted = await client.enqueue(Task("wait:idle"), queue="parked", retention=60)
    waits = [asyncio.ensure_future(info.wait(10)) for info in (archived, deleted)]
    await asyncio.sleep(0.1)  # both are listening
    await inspector.archive_task("parked", archived.id)
    await inspector.delete_task("parked", deleted.id)
    with pytest.raises(TaskArchivedError):
        await waits[0]
    with pytest.raises(TaskDeletedError):
        await waits[1]
    failing = await client.enqueue(Task("wait:fail"))
    vanishing = await client.enqueue(Task("wait:ok"))  # no retention: nothing is kept
    await start_server(servers, async_redis, handler)
    with pytest.raises(TaskFailedError, match="broken for good") as failed:
        await failing.wait(10)
    assert failed.value.info is not None
    assert failed.value.info.last_err.startswith("broken for good")
    assert await vanishing.wait(10) is None
    with pytest.raises(ValueError, match="timeout=0"):
        await vanishing.wait(0)


async def test_blocking_client_wait(redis_url: str, servers: list[Server]) -> None:
    async def handler(ctx: TaskContext, task: Task) -> None:
        await asyncio.sleep(0.05)
        await ctx.result_writer.write(task.payload or b"")

    async_client = redis.asyncio.Redis.from_url(redis_url)
    await start_server(servers, async_client, handler)
    with Client.from_url(redis_url) as client:
        info = client.enqueue(Task("wait:sync", b"blocking"), retention=60)
        assert dataclasses.asdict(info)["payload"] == b"blocking"  # the client is no field
        assert await asyncio.to_thread(info.wait, 10) == b"blocking"
    await async_client.aclose()


async def test_wait_on_cluster(
    async_redis_cluster: Any, redis_cluster: Any, servers: list[Server]
) -> None:
    async def handler(ctx: TaskContext, task: Task) -> None:
        await asyncio.sleep(0.05)
        await ctx.result_writer.write(task.payload or b"")

    await start_server(servers, async_redis_cluster, handler, queues={"a": 1, "b": 1, "c": 1})
    client = AsyncClient(async_redis_cluster)
    infos = [
        await client.enqueue(Task("wait:c", queue.encode()), queue=queue, retention=60)
        for queue in ("a", "b", "c")
    ]
    assert await asyncio.gather(*(info.wait(10) for info in infos)) == [b"a", b"b", b"c"]
    with Client.from_cluster(redis_cluster.startup_nodes) as blocking:
        info = blocking.enqueue(Task("wait:c", b"sync"), queue="b", retention=60)
        assert await asyncio.to_thread(info.wait, 10) == b"sync"


async def test_wait_through_sentinel_reads_every_tenth_of_a_second(
    redis_sentinel: Any, servers: list[Server]
) -> None:
    """Sentinel clients get no tracking connections (§14): the short re-read still sees it."""
    host, port = redis_sentinel.sentinels[0]
    url = f"redis-sentinel://{host}:{port}?master={redis_sentinel.master_name}"

    async def handler(ctx: TaskContext, task: Task) -> None:
        await ctx.result_writer.write(b"via sentinel")

    async with AsyncClient.from_url(url) as client:
        info = await client.enqueue(Task("wait:s"), retention=60)
        await start_server(servers, url, handler)
        assert await info.wait(10) == b"via sentinel"
