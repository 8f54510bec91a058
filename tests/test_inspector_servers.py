"""Inspector views of servers, workers and schedulers, and Go's option-string parser rules."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from kasynq import keys
from kasynq.broker.core import Broker
from kasynq.inspector import GO_ZERO_TIME_SECONDS, AsyncInspector, go_parses_option
from kasynq.proto.asynq_pb2 import SchedulerEnqueueEvent, SchedulerEntry, ServerInfo, WorkerInfo

STARTED = datetime(2026, 11, 24, 14, 0, 1, 123456, tzinfo=UTC)


def timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def server_info(server_id: str) -> ServerInfo:
    return ServerInfo(
        host="node-1",
        pid=4242,
        server_id=server_id,
        concurrency=8,
        queues={"critical": 6, "default": 3},
        strict_priority=True,
        status="active",
        start_time=timestamp(STARTED),
        active_worker_count=1,
    )


def worker_info(server_id: str, task_id: str) -> WorkerInfo:
    return WorkerInfo(
        host="node-1",
        pid=4242,
        server_id=server_id,
        task_id=task_id,
        task_type="email:send",
        task_payload=b"\x01\x02",
        queue="critical",
        start_time=timestamp(STARTED),
        deadline=timestamp(datetime(2026, 11, 24, 14, 30, tzinfo=UTC)),
    )


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


async def test_servers_with_their_active_workers(client: redis.asyncio.Redis) -> None:
    broker, inspector = Broker(client), AsyncInspector(client)
    await broker.write_server_state(server_info("s1"), [worker_info("s1", "t1")])
    await broker.write_server_state(server_info("gone"), [worker_info("gone", "t2")])
    await client.delete(keys.server_info_key("node-1", 4242, "gone"))  # workers of it are dropped
    stale = keys.server_info_key("node-1", 1, "stale")
    await client.zadd(keys.ALL_SERVERS, {stale: int(time.time()) - 5})

    (server,) = await inspector.servers()

    assert (server.id, server.host, server.pid, server.concurrency) == ("s1", "node-1", 4242, 8)
    assert (server.queues, server.strict_priority, server.status) == (
        {"critical": 6, "default": 3},
        True,
        "active",
    )
    assert server.started == STARTED
    (worker,) = server.active_workers
    assert (worker.task_id, worker.task_type, worker.task_payload, worker.queue) == (
        "t1",
        "email:send",
        b"\x01\x02",
        "critical",
    )
    assert worker.started == STARTED
    assert worker.deadline == datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
    assert await client.zscore(keys.ALL_SERVERS, stale) is None  # pruned by the read, as Go


async def test_scheduler_entries_and_enqueue_history(client: redis.asyncio.Redis) -> None:
    broker, inspector = Broker(client), AsyncInspector(client)
    options = [
        'Queue("reports")',
        "MaxRetry(5)",
        "Timeout(30m0s)",
        'TaskID("abc")',
        'Group("g")',
        "Deadline(Tue Feb  3 10:00:00 UTC 2026)",
        "Timeout(soon)",
    ]
    never = Timestamp(seconds=GO_ZERO_TIME_SECONDS)
    entry = SchedulerEntry(
        id="entry-1",
        spec="@every 30s",
        task_type="report",
        task_payload=b"{}",
        enqueue_options=options,
        next_enqueue_time=timestamp(STARTED),
        prev_enqueue_time=never,
    )
    await broker.write_scheduler_entries("host:1:sched", [entry], ttl=20)
    for second in range(3):
        event = SchedulerEnqueueEvent(
            task_id=f"task-{second}", enqueue_time=Timestamp(seconds=1_700_000_000 + second)
        )
        await broker.record_scheduler_enqueue_event("entry-1", event)

    (listed,) = await inspector.scheduler_entries()

    assert (listed.id, listed.spec, listed.task_type, listed.task_payload) == (
        "entry-1",
        "@every 30s",
        "report",
        b"{}",
    )
    assert listed.options == (
        'Queue("reports")',
        "MaxRetry(5)",
        "Timeout(30m0s)",
        "Deadline(Tue Feb  3 10:00:00 UTC 2026)",
    )
    assert (listed.next, listed.prev) == (STARTED, None)
    events = await inspector.list_scheduler_enqueue_events("entry-1")
    assert [event.task_id for event in events] == ["task-2", "task-1", "task-0"]
    assert events[0].enqueued_at == datetime.fromtimestamp(1_700_000_002, UTC)
    page = await inspector.list_scheduler_enqueue_events("entry-1", page_size=2, page=2)
    assert [event.task_id for event in page] == ["task-0"]


@pytest.mark.parametrize(
    ("option", "kept"),
    [
        ('Queue("critical")', True),
        ('Queue("a\\"b")', True),
        ("Queue(critical)", False),
        ("MaxRetry(25)", True),
        ("MaxRetry(-3)", True),
        ("MaxRetry(x)", False),
        ("Timeout(1h30m0s)", True),
        ("Unique(1.5s)", True),
        ("ProcessIn(0)", True),
        ("Retention(24h0m0s)", True),
        ("Retention(24)", False),
        ("Deadline(Mon Mar  2 09:30:00 JST 2026)", True),
        ("ProcessAt(Tue Nov 24 14:00:00 CEST 2026)", True),
        ("ProcessAt(Mon Feb 30 09:30:00 UTC 2026)", False),
        ("ProcessAt(Mon Mar  2 09:30:00 +0900 2026)", False),
        ('TaskID("id-1")', False),
        ('Group("emails")', False),
        ('Header(["k","v"])', False),
        ("Timeout", False),
    ],
)
def test_option_strings_kept_as_go_parses_them(option: str, kept: bool) -> None:
    assert go_parses_option(option) is kept
