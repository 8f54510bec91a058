"""Server processing through Redis faults: a broken queue, a Redis outage mid-drain (real
redis-servers only)."""

from __future__ import annotations

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
