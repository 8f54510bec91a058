"""Server processing through Redis faults: a broken queue, a Redis outage mid-drain (real
redis-servers only)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker import Broker
from kasynq.context import TaskContext
from kasynq.server import Server
from kasynq.syncer import Syncer
from kasynq.task import Task

from devenv.processes import free_port
from devenv.redis_servers import RedisServer
from tests.server_helpers import enqueue, wait_for
from tests.test_server import client, servers, start

__all__ = ["client", "servers"]  # the fixtures, shared with the server tests

PICKY_RECOVERY: dict[str, Any] = {"recoverer_grace": 30.0, "recoverer_interval": 1.0}
"""Go's recovery grace (FAST's 0 would recover at the lease's end), checked every second."""


async def assert_each_ran_once(
    check: redis.asyncio.Redis, ids: set[str], runs: Counter[str], settle: float = 0.0
) -> None:
    """Every task of `ids` ran exactly once and none is left pending or active, within 25 s
    (well before the 60 s of lease plus recoverer grace after which a recoverer steps in)."""

    async def state() -> tuple[int, int, int]:
        active = await check.llen(keys.active_key("default"))
        pending = await check.llen(keys.pending_key("default"))
        return len(ids - set(runs)), active, pending

    async def drained() -> bool:
        return await state() == (0, 0, 0)

    with contextlib.suppress(AssertionError):
        await wait_for(drained, within=25, what="every task run and nothing left active")
    await asyncio.sleep(settle)  # a late re-run by a recoverer would show now
    never_ran, active, pending = await state()
    twice = sum(1 for count in runs.values() if count > 1)
    assert (never_ran, active, pending, twice) == (0, 0, 0, 0), (
        f"never ran={never_ran} active={active} pending={pending} ran twice={twice}"
    )


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


async def drain_through(
    servers: list[Server],
    client: redis.asyncio.Redis,
    check: redis.asyncio.Redis,
    fault: Callable[[], Awaitable[None]],
    settle: float = 0.0,
    span: float = 0.0,
) -> None:
    """Drain 2,000 tasks with `client`, `fault` striking after 300; `check` then sees each
    task run exactly once and nothing left (`assert_each_ran_once`). With `span`, one more
    task, first in line, runs `span` s: across the fault."""
    runs: Counter[str] = Counter()

    async def handler(ctx: TaskContext, task: Task) -> None:
        runs[ctx.task_id] += 1
        await asyncio.sleep(float(task.payload or b"0.002"))

    broker = Broker(check)
    spanning = await enqueue(broker, payload=str(span).encode()) if span else []
    messages = [*spanning, *await enqueue(broker, 2000)]
    await start(servers, client, handler, concurrency=10, **PICKY_RECOVERY)
    await wait_for(lambda: len(runs) >= 300, within=30, what="300 tasks before the fault")
    await fault()
    await assert_each_ran_once(check, {msg.id for msg in messages}, runs, settle)


async def test_a_broken_queue_does_not_stop_forwarding_or_cleaning_the_others(
    async_redis: redis.asyncio.Redis,
    broker: Broker,
    servers: list[Server],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for broken in (keys.pending_key("bad"), keys.completed_key("bad")):
        await async_redis.set(broken, "wrong type")
    [due] = await enqueue(broker, queue="good")  # then made a due scheduled task
    await async_redis.delete(keys.pending_key("good"))
    await async_redis.zadd(keys.scheduled_key("good"), {due.id: 1})
    await async_redis.zadd(keys.scheduled_key("bad"), {"ghost": 1})  # due: forwards to pending
    expired = await enqueue(broker, queue="good", retention=1)
    await async_redis.delete(keys.pending_key("good"))
    await async_redis.zadd(keys.completed_key("good"), {expired[0].id: 1})  # retention over
    seen: list[str] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(ctx.task_id)

    caplog.set_level(logging.WARNING, logger="kasynq")
    queues = {"bad": 1, "good": 1}
    await start(servers, async_redis, handler, queues=queues, janitor_interval=0.1)
    await wait_for(lambda: seen == [due.id], what="the good queue's scheduled task")
    completed = keys.completed_key("good")
    await wait_for(lambda: _empty(async_redis, completed), what="the good queue cleaned")
    assert any("queue=bad" in record.message for record in caplog.records)


async def _empty(client: redis.asyncio.Redis, key: str) -> bool:
    return await client.zcard(key) == 0


OUTAGE_SECONDS = 32.0
"""Longer than the in-memory lease left at the outage's start (<= 30 s), shorter than the
lease plus the recoverers' 30 s grace: no task may run twice or be lost, not even one whose
handler runs through the outage."""


async def test_a_redis_outage_mid_drain_neither_duplicates_nor_strands_tasks(
    redis_factory: type[RedisServer], servers: list[Server]
) -> None:
    server = redis_factory(persistent=True).start()  # AOF fsync always: acknowledged = kept
    client = redis.asyncio.Redis.from_url(server.url)

    async def outage() -> None:
        server.stop()  # kill -9 mid-drain: replies in flight are lost
        await asyncio.sleep(OUTAGE_SECONDS)
        server.start()

    try:
        # the spanning task runs through the outage; a recoverer would take it 30 s after its
        # lease (last extended before the outage), so the settle waits past that
        await drain_through(servers, client, client, outage, settle=25.0, span=OUTAGE_SECONDS + 6)
    finally:
        await client.aclose()


async def test_dequeues_whose_replies_were_lost_leave_no_task_stranded(
    redis_factory: type[RedisServer], servers: list[Server]
) -> None:
    server = redis_factory().start()
    process = server.process
    assert process is not None
    # replies overdue by 0.5 s fail the calls; the frozen Redis still runs them once thawed
    client = redis.asyncio.Redis.from_url(server.url, socket_timeout=0.5)
    check = redis.asyncio.Redis.from_url(server.url)

    async def freeze() -> None:
        process.send_signal(signal.SIGSTOP)
        await asyncio.sleep(2.0)
        process.send_signal(signal.SIGCONT)

    try:
        await drain_through(servers, client, check, freeze)
    finally:
        process.send_signal(signal.SIGCONT)
        await check.aclose()
        await client.aclose()


async def test_requeue_unanswered_spares_held_and_extended_tasks(
    async_redis: redis.asyncio.Redis, broker: Broker
) -> None:
    messages = await enqueue(broker, 4)
    taken = [await broker.dequeue("default") for _ in messages]
    stranded, held, extended, later = (found[0].id for found in taken if found is not None)
    score = int(await async_redis.zscore(keys.lease_key("default"), stranded) or 0)
    await async_redis.zadd(keys.lease_key("default"), {extended: score + 5, later: score + 1})
    requeued = await broker.requeue_unanswered("default", score - 1, score, [held])
    assert requeued == [stranded]
    assert await async_redis.lrange(keys.pending_key("default"), 0, -1) == [stranded.encode()]
    assert await async_redis.hget(keys.task_key("default", stranded), "state") == b"pending"
    assert await async_redis.zscore(keys.lease_key("default"), stranded) is None
    active = await async_redis.lrange(keys.active_key("default"), 0, -1)
    assert sorted(active) == sorted(task_id.encode() for task_id in (held, extended, later))


async def test_logged_errors_carry_the_redis_error_text(
    async_redis: redis.asyncio.Redis, servers: list[Server], caplog: pytest.LogCaptureFixture
) -> None:
    await async_redis.set(keys.scheduled_key("default"), "not a zset")  # the forwarder fails
    refused_port = free_port()  # nothing listens there
    caplog.set_level(logging.WARNING, logger="kasynq")

    async def handler(ctx: TaskContext, task: Task) -> None:
        pass

    await start(servers, async_redis, handler)
    await start(servers, f"redis://127.0.0.1:{refused_port}/0", handler)

    def logged(*parts: str) -> bool:
        return any(all(part in record.message for part in parts) for record in caplog.records)

    await wait_for(lambda: logged("forwarder run failed", "ResponseError: WRONGTYPE"))
    await wait_for(lambda: logged("ConnectionError: Error 111", f"127.0.0.1:{refused_port}"))


async def test_the_syncer_names_the_tasks_whose_writes_it_still_holds() -> None:
    syncer = Syncer()
    during: list[set[str]] = []

    async def fails() -> None:
        raise redis.ConnectionError("Redis is down")

    async def succeeds() -> None:
        during.append(syncer.task_ids())

    syncer.add("done", fails, deadline=time.time() + 60, task_id="a")
    syncer.add("done", succeeds, deadline=time.time() + 60, task_id="b")
    assert syncer.task_ids() == {"a", "b"}
    await syncer.sync()
    assert during == [{"a", "b"}]  # a write in progress is still held: not yet done
    assert syncer.task_ids() == {"a"}
