"""Server processing through Redis faults: a broken queue, a Redis outage mid-drain (real
redis-servers only)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker import Broker
from kasynq.context import TaskContext
from kasynq.server import Server
from kasynq.task import Task

from devenv.redis_servers import RedisServer
from tests.server_helpers import FAST, enqueue, wait_for


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    """Servers started by a test; all shut down at the end, also on failure."""
    started: list[Server] = []
    yield started
    for server in started:
        await server.shutdown()


async def start(servers: list[Server], client: Any, handler: Any, **options: Any) -> Server:
    server = Server(client, **{**FAST, **options})
    servers.append(server)
    await server.start(handler)
    return server


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "weighted"])
async def test_a_broken_queue_does_not_slow_the_others(
    async_redis: redis.asyncio.Redis,
    broker: Broker,
    servers: list[Server],
    strict: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await async_redis.set(keys.pending_key("bad"), "not a list")  # WRONGTYPE for every dequeue
    seen: Counter[str] = Counter()

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen[ctx.task_id] += 1

    await enqueue(broker, 200, queue="good")
    caplog.set_level(logging.WARNING, logger="kasynq")
    started = time.monotonic()
    await start(
        servers,
        async_redis,
        handler,
        concurrency=10,
        queues={"bad": 3, "good": 1},
        strict_priority=strict,
        task_check_interval=1.0,
    )
    await wait_for(lambda: len(seen) >= 200, within=10, what="200 tasks of the good queue")
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"200 tasks took {elapsed:.2f}s"
    failures = [record.getMessage() for record in caplog.records if "queue=bad" in record.message]
    assert failures, "the broken queue is not logged"
    assert all("WRONGTYPE" in text for text in failures), failures
    assert len(failures) <= 2, failures  # once per back-off interval, not once per attempt


OUTAGE_SECONDS = 32.0
"""Longer than the in-memory lease left at the outage's start (<= 30 s), shorter than the
lease plus the recoverers' 30 s grace: no task may run twice or be lost."""


async def test_a_redis_outage_mid_drain_neither_duplicates_nor_strands_tasks(
    redis_factory: type[RedisServer], servers: list[Server]
) -> None:
    server = redis_factory(persistent=True).start()  # AOF fsync always: acknowledged = kept
    client = redis.asyncio.Redis.from_url(server.url)
    runs: Counter[str] = Counter()

    async def handler(ctx: TaskContext, task: Task) -> None:
        runs[ctx.task_id] += 1
        await asyncio.sleep(0.002)

    try:
        messages = await enqueue(Broker(client), 3000)
        await start(
            servers,
            client,
            handler,
            concurrency=10,
            recoverer_grace=30.0,  # Go's; FAST's 0 would recover at the lease's end
            recoverer_interval=1.0,
        )
        await wait_for(lambda: len(runs) >= 800, within=30, what="800 tasks before the outage")
        server.stop()  # kill -9 mid-drain: replies in flight are lost
        await asyncio.sleep(OUTAGE_SECONDS)
        server.start()
        ids = {msg.id for msg in messages}

        async def state() -> tuple[int, int, int]:
            active = await client.llen(keys.active_key("default"))
            pending = await client.llen(keys.pending_key("default"))
            return len(ids - set(runs)), active, pending

        async def drained() -> bool:
            return await state() == (0, 0, 0)

        with contextlib.suppress(AssertionError):
            await wait_for(drained, within=25, what="every task run and nothing left active")
        await asyncio.sleep(2.0)  # recoverers run every second: any late re-run shows now
        never_ran, active, pending = await state()
        twice = sum(1 for count in runs.values() if count > 1)
        assert (never_ran, active, pending, twice) == (0, 0, 0, 0), (
            f"never ran={never_ran} active={active} pending={pending} ran twice={twice}"
        )
    finally:
        await client.aclose()
