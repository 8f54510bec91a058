"""AsyncInspector on real Redis: QueueInfo, history, listings and mutations (wire-protocol.md §10).

State is seeded through `Broker`, whose scripts write exactly what Go writes, so each test
checks the inspector against the state Go's client and server would leave behind.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker.core import Broker
from kasynq.errors import (
    FailedPreconditionError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from kasynq.inspector import AsyncInspector
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.task import TaskState

Q = "critical"
NOW_S = int(time.time())


def message(queue: str = Q, task_type: str = "email:send", **fields: object) -> TaskMessage:
    return TaskMessage(
        type=task_type,
        payload=b"\x00payload\xff",
        id=str(uuid.uuid4()),
        queue=queue,
        retry=25,
        timeout=1800,
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


@pytest.fixture
def broker(client: redis.asyncio.Redis) -> Broker:
    return Broker(client)


@pytest.fixture
def inspector(client: redis.asyncio.Redis) -> AsyncInspector:
    return AsyncInspector(client)


async def make_active(broker: Broker, msg: TaskMessage) -> TaskMessage:
    """Enqueue `msg` into an otherwise empty pending list and dequeue it."""
    await broker.enqueue(msg)
    dequeued = await broker.dequeue(msg.queue)
    assert dequeued is not None and dequeued[0].id == msg.id
    return dequeued[0]


async def seed_every_state(broker: Broker) -> dict[str, list[str]]:
    """Tasks in all seven states of queue Q (processed today: 3, failed: 2)."""
    ids: dict[str, list[str]] = {}
    active = await make_active(broker, message())
    retried = await make_active(broker, message())
    await broker.retry(retried, NOW_S + 600, "boom", is_failure=True)
    archived = await make_active(broker, message())
    await broker.archive(archived, "fatal")
    completed = await make_active(broker, message(retention=3600))
    await broker.mark_as_complete(completed)
    ids.update(
        active=[active.id], retry=[retried.id], archived=[archived.id], completed=[completed.id]
    )
    ids["pending"] = []
    for _ in range(3):
        msg = message()
        await broker.enqueue(msg)
        ids["pending"].append(msg.id)
    ids["scheduled"] = []
    for delay in (300, 100):
        msg = message()
        await broker.schedule(msg, NOW_S + delay)
        ids["scheduled"].append(msg.id)
    ids["aggregating"] = []
    for second, group in enumerate(("g1", "g1", "g2")):
        msg = message(group_key=group)
        added_at_ns = (NOW_S + second) * 10**9  # distinct scores: a defined order in the group
        await Broker(broker.client, clock=lambda ns=added_at_ns: ns).add_to_group(msg, group)
        ids["aggregating"].append(msg.id)
    return ids


async def test_queue_info_reports_every_field(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    await seed_every_state(broker)
    await inspector.pause_queue(Q)
    await client.set(keys.processed_total_key(Q), 1000)
    before = datetime.now(UTC)

    info = await inspector.get_queue_info(Q)

    counts = (info.pending, info.active, info.scheduled, info.retry, info.archived)
    assert counts == (3, 1, 2, 1, 1)
    assert (info.completed, info.aggregating, info.groups) == (1, 3, 2)
    assert info.size == 3 + 1 + 2 + 1 + 1 + 1 + 3
    assert (info.processed, info.failed) == (3, 2)
    assert (info.processed_total, info.failed_total) == (1000, 2)
    assert info.paused is True
    assert info.queue == Q
    assert before <= info.timestamp <= datetime.now(UTC)
    assert timedelta(0) < info.latency < timedelta(seconds=5)
    assert info.memory_usage > 0


async def test_queue_info_of_unknown_or_blank_queue(inspector: AsyncInspector) -> None:
    with pytest.raises(QueueNotFoundError):
        await inspector.get_queue_info("nope")
    with pytest.raises(ValueError, match="queue"):
        await inspector.get_queue_info("  ")


async def test_latency_is_age_of_the_pending_tail(client: redis.asyncio.Redis) -> None:
    enqueued_ns = 1_700_000_000 * 10**9
    await Broker(client, clock=lambda: enqueued_ns).enqueue(message())
    await Broker(client, clock=lambda: enqueued_ns + 10**9).enqueue(message())
    later = AsyncInspector(client, clock=lambda: enqueued_ns + 7_500_000_000)
    assert (await later.get_queue_info(Q)).latency == timedelta(seconds=7.5)


async def test_latency_is_zero_when_tail_has_no_pending_since(
    broker: Broker, inspector: AsyncInspector
) -> None:
    active = await make_active(broker, message())
    await broker.requeue(active)  # shutdown path: no pending_since, as in Go
    await broker.enqueue(message())
    info = await inspector.get_queue_info(Q)
    assert info.pending == 2
    assert info.latency == timedelta(0)


async def test_memory_usage_follows_go_sampling(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    await seed_every_state(broker)
    for _ in range(25):  # more than one sample of pending
        await broker.enqueue(message())

    async def usage(key: str) -> int:
        return int(await client.memory_usage(key) or 0)

    async def average_task_usage(ids: list[bytes]) -> float:
        prefix = keys.task_key_prefix(Q)
        return sum([await usage(prefix + i.decode()) for i in ids]) / len(ids)

    expected = 0.0
    for list_key in (keys.active_key(Q), keys.pending_key(Q)):
        ids = await client.lrange(list_key, 0, 19)
        expected += await average_task_usage(ids) * await client.llen(list_key)
        expected += await usage(list_key)
    zsets = (keys.scheduled_key(Q), keys.retry_key(Q), keys.archived_key(Q), keys.completed_key(Q))
    for zset_key in zsets:
        ids = await client.zrange(zset_key, 0, 19)
        expected += await average_task_usage(ids) * await client.zcard(zset_key)
        expected += await usage(zset_key)
    group_keys = [keys.group_key(Q, g.decode()) for g in await client.smembers(keys.all_groups(Q))]
    group_ids = [i for key in group_keys for i in await client.zrange(key, 0, 19)]
    group_total = sum([await client.zcard(key) for key in group_keys])
    expected += await average_task_usage(group_ids) * group_total

    assert (await inspector.get_queue_info(Q)).memory_usage == int(expected)


async def test_history_lists_days_newest_first(
    inspector: AsyncInspector, client: redis.asyncio.Redis, broker: Broker
) -> None:
    await broker.enqueue(message())
    now = datetime.now(UTC)
    await client.set(keys.processed_key(Q, now), 7)
    await client.set(keys.failed_key(Q, now), 2)
    await client.set(keys.processed_key(Q, now - timedelta(days=2)), 40)

    history = await inspector.history(Q, 7)

    assert [(day.processed, day.failed) for day in history] == [
        (7, 2),
        (0, 0),
        (40, 0),
        (0, 0),
        (0, 0),
        (0, 0),
        (0, 0),
    ]
    assert all(day.queue == Q for day in history)
    for days_back, day in enumerate(history):
        assert abs(day.date - (now - timedelta(days=days_back))) < timedelta(seconds=5)
    with pytest.raises(FailedPreconditionError, match="positive"):
        await inspector.history(Q, 0)
    with pytest.raises(QueueNotFoundError):
        await inspector.history("nope", 1)


async def test_pending_pages_start_with_the_next_task_to_run(
    broker: Broker, inspector: AsyncInspector
) -> None:
    ids = []
    for _ in range(5):
        msg = message()
        await broker.enqueue(msg)
        ids.append(msg.id)

    def page_ids(infos: list) -> list[str]:  # type: ignore[type-arg]
        return [info.id for info in infos]

    assert page_ids(await inspector.list_pending_tasks(Q)) == ids
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=2)) == ids[:2]
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=2, page=2)) == ids[2:4]
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=2, page=3)) == ids[4:]
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=2, page=4)) == []
    # Go quirks kept: page size 0 reads the whole list, a negative page is page 1.
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=0)) == ids
    assert page_ids(await inspector.list_pending_tasks(Q, page_size=2, page=-3)) == ids[:2]
    first = (await inspector.list_pending_tasks(Q))[0]
    assert first.state is TaskState.PENDING
    assert first.next_process_at is not None
    assert abs(first.next_process_at - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(QueueNotFoundError):
        await inspector.list_pending_tasks("nope")


async def test_zset_listings_are_ordered_by_score(
    broker: Broker, inspector: AsyncInspector
) -> None:
    ids = await seed_every_state(broker)

    scheduled = await inspector.list_scheduled_tasks(Q)
    assert [info.id for info in scheduled] == ids["scheduled"][::-1]  # +100 s before +300 s
    assert [info.next_process_at for info in scheduled] == [
        datetime.fromtimestamp(NOW_S + 100, UTC),
        datetime.fromtimestamp(NOW_S + 300, UTC),
    ]
    (retry,) = await inspector.list_retry_tasks(Q)
    assert (retry.id, retry.state, retry.retried, retry.last_err) == (
        ids["retry"][0],
        TaskState.RETRY,
        1,
        "boom",
    )
    assert retry.next_process_at == datetime.fromtimestamp(NOW_S + 600, UTC)
    (archived,) = await inspector.list_archived_tasks(Q)
    assert (archived.id, archived.next_process_at, archived.last_err) == (
        ids["archived"][0],
        None,
        "fatal",
    )
    (completed,) = await inspector.list_completed_tasks(Q)
    assert completed.id == ids["completed"][0]
    assert completed.completed_at is not None
    group = await inspector.list_aggregating_tasks(Q, "g1")
    assert [info.id for info in group] == ids["aggregating"][:2]
    assert {info.group for info in group} == {"g1"}
    assert sorted((g.group, g.size) for g in await inspector.groups(Q)) == [("g1", 2), ("g2", 1)]


async def test_active_tasks_with_expired_lease_are_orphaned(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    live = await make_active(broker, message())
    lost = await make_active(broker, message())
    await client.zadd(keys.lease_key(Q), {lost.id: NOW_S - 60})

    active = await inspector.list_active_tasks(Q)

    assert {info.id: info.is_orphaned for info in active} == {live.id: False, lost.id: True}
    assert [info.id for info in active] == [live.id, lost.id]
    assert all(info.next_process_at is None for info in active)


async def test_get_task_info_in_every_state(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    await client.hset(keys.task_key(Q, ids["completed"][0]), "result", b"done!")
    for state, state_ids in ids.items():
        info = await inspector.get_task_info(Q, state_ids[0])
        assert (info.id, info.queue, info.state) == (state_ids[0], Q, TaskState(state))
        assert info.payload == b"\x00payload\xff"
    scheduled = await inspector.get_task_info(Q, ids["scheduled"][0])
    assert scheduled.next_process_at == datetime.fromtimestamp(NOW_S + 300, UTC)
    pending = await inspector.get_task_info(Q, ids["pending"][0])
    assert pending.next_process_at is not None
    assert (await inspector.get_task_info(Q, ids["active"][0])).next_process_at is None
    assert (await inspector.get_task_info(Q, ids["completed"][0])).result == b"done!"
    assert (await inspector.get_task_info(Q, ids["pending"][0])).result is None
    with pytest.raises(TaskNotFoundError):
        await inspector.get_task_info(Q, "missing")
    with pytest.raises(QueueNotFoundError):
        await inspector.get_task_info("nope", ids["pending"][0])


async def test_run_task_result_codes_and_effects(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    with pytest.raises(FailedPreconditionError, match="already running"):
        await inspector.run_task(Q, ids["active"][0])
    with pytest.raises(FailedPreconditionError, match="already in pending"):
        await inspector.run_task(Q, ids["pending"][0])
    with pytest.raises(TaskNotFoundError):
        await inspector.run_task(Q, "missing")
    for state in ("scheduled", "retry", "archived", "completed", "aggregating"):
        await inspector.run_task(Q, ids[state][-1])
        assert (await inspector.get_task_info(Q, ids[state][-1])).state is TaskState.PENDING
    assert await client.lindex(keys.pending_key(Q), 0) == ids["aggregating"][-1].encode()
    assert not await client.hexists(keys.task_key(Q, ids["archived"][0]), "pending_since")
    assert await client.smembers(keys.all_groups(Q)) == {b"g1"}  # g2 emptied
    info = await inspector.get_queue_info(Q)
    assert (info.pending, info.scheduled, info.retry, info.archived, info.completed) == (
        8,
        1,
        0,
        0,
        0,
    )


async def test_archive_task_result_codes_and_effects(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    with pytest.raises(FailedPreconditionError, match="active"):
        await inspector.archive_task(Q, ids["active"][0])
    with pytest.raises(FailedPreconditionError, match="already archived"):
        await inspector.archive_task(Q, ids["archived"][0])
    with pytest.raises(TaskNotFoundError):
        await inspector.archive_task(Q, "missing")
    for state in ("pending", "scheduled", "retry", "completed", "aggregating"):
        await inspector.archive_task(Q, ids[state][-1])
        assert (await inspector.get_task_info(Q, ids[state][-1])).state is TaskState.ARCHIVED
    assert await client.smembers(keys.all_groups(Q)) == {b"g1"}
    info = await inspector.get_queue_info(Q)
    assert (info.pending, info.archived, info.aggregating) == (2, 6, 2)


async def test_delete_task_releases_owned_unique_lock(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    unique = message(unique_key=keys.unique_key(Q, "email:send", b"x"))
    await broker.enqueue_unique(unique, 300)
    with pytest.raises(FailedPreconditionError, match="active"):
        await inspector.delete_task(Q, ids["active"][0])
    with pytest.raises(TaskNotFoundError):
        await inspector.delete_task(Q, "missing")

    await inspector.delete_task(Q, unique.id)
    assert not await client.exists(unique.unique_key, keys.task_key(Q, unique.id))
    for state in ("pending", "scheduled", "retry", "archived", "completed", "aggregating"):
        await inspector.delete_task(Q, ids[state][-1])
        assert not await client.exists(keys.task_key(Q, ids[state][-1]))
    assert await client.smembers(keys.all_groups(Q)) == {b"g1"}


async def test_run_archive_and_delete_all_tasks_of_a_state(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    await seed_every_state(broker)
    assert await inspector.archive_all_pending_tasks(Q) == 3
    assert await inspector.archive_all_scheduled_tasks(Q) == 2
    assert await inspector.archive_all_retry_tasks(Q) == 1
    assert await inspector.archive_all_aggregating_tasks(Q, "g2") == 1
    assert await client.smembers(keys.all_groups(Q)) == {b"g1"}
    assert (await inspector.get_queue_info(Q)).archived == 8
    assert await inspector.run_all_archived_tasks(Q) == 8
    assert await inspector.run_all_aggregating_tasks(Q, "g1") == 2
    assert not await client.exists(keys.all_groups(Q))
    assert await inspector.delete_all_pending_tasks(Q) == 10
    assert await inspector.delete_all_completed_tasks(Q) == 1
    info = await inspector.get_queue_info(Q)
    assert (info.size, info.active) == (1, 1)
    for run_all in (inspector.run_all_scheduled_tasks, inspector.run_all_retry_tasks):
        assert await run_all(Q) == 0
    for delete_all in (
        inspector.delete_all_scheduled_tasks,
        inspector.delete_all_retry_tasks,
        inspector.delete_all_archived_tasks,
    ):
        assert await delete_all(Q) == 0
    assert await inspector.delete_all_aggregating_tasks(Q, "g1") == 0
    with pytest.raises(QueueNotFoundError):
        await inspector.run_all_retry_tasks("nope")


async def test_delete_all_releases_locks_only_where_go_does(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    scheduled = message(unique_key=keys.unique_key(Q, "t", b"s"))
    await broker.schedule_unique(scheduled, NOW_S + 100, 300)
    pending = message(unique_key=keys.unique_key(Q, "t", b"p"))
    await broker.enqueue_unique(pending, 300)
    assert await inspector.delete_all_scheduled_tasks(Q) == 1
    assert await inspector.delete_all_pending_tasks(Q) == 1
    assert not await client.exists(scheduled.unique_key)
    assert await client.exists(pending.unique_key)  # Go keeps it too


async def test_update_task_payload_of_scheduled_task_only(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    await inspector.update_task_payload(Q, ids["scheduled"][0], b"new")
    info = await inspector.get_task_info(Q, ids["scheduled"][0])
    assert (info.payload, info.state) == (b"new", TaskState.SCHEDULED)
    with pytest.raises(FailedPreconditionError, match="scheduled"):
        await inspector.update_task_payload(Q, ids["pending"][0], b"new")
    with pytest.raises(TaskNotFoundError):
        await inspector.update_task_payload(Q, "missing", b"new")
    with pytest.raises(ValueError, match="payload must be bytes"):
        await inspector.update_task_payload(Q, ids["scheduled"][0], "text")  # type: ignore[arg-type]


async def test_delete_queue_force_and_leftovers(
    broker: Broker, inspector: AsyncInspector, client: redis.asyncio.Redis
) -> None:
    ids = await seed_every_state(broker)
    with pytest.raises(QueueNotFoundError):
        await inspector.delete_queue("nope")
    with pytest.raises(QueueNotEmptyError):
        await inspector.delete_queue(Q)
    with pytest.raises(FailedPreconditionError, match="active"):
        await inspector.delete_queue(Q, force=True)
    await client.delete(keys.active_key(Q))

    await inspector.delete_queue(Q, force=True)

    assert await inspector.queues() == []
    assert not await client.exists(keys.task_key(Q, ids["pending"][0]), keys.pending_key(Q))
    assert await client.exists(keys.task_key(Q, ids["completed"][0]), keys.completed_key(Q))
    assert await client.exists(keys.all_groups(Q))


async def test_delete_empty_queue_without_force(broker: Broker, inspector: AsyncInspector) -> None:
    msg = message(queue="empty")
    await broker.enqueue(msg)
    await inspector.delete_task("empty", msg.id)
    await inspector.delete_queue("empty")
    assert "empty" not in await inspector.queues()


async def test_pause_and_unpause(inspector: AsyncInspector, client: redis.asyncio.Redis) -> None:
    await inspector.pause_queue(Q)
    assert abs(int(await client.get(keys.paused_key(Q))) - time.time()) < 5
    with pytest.raises(FailedPreconditionError, match="already paused"):
        await inspector.pause_queue(Q)
    await inspector.unpause_queue(Q)
    with pytest.raises(FailedPreconditionError, match="not paused"):
        await inspector.unpause_queue(Q)


async def test_cancel_processing_publishes_the_task_id(
    broker: Broker, inspector: AsyncInspector
) -> None:
    subscription = await broker.subscribe_cancellations()
    try:
        await inspector.cancel_processing("task-42")
        async for task_id in subscription:
            assert task_id == "task-42"
            break
    finally:
        await subscription.close()


async def test_queues_lists_registered_names(broker: Broker, inspector: AsyncInspector) -> None:
    for queue in ("b", "a"):
        await broker.enqueue(message(queue=queue))
    assert await inspector.queues() == ["a", "b"]


async def test_inspector_archive_trim_keeps_hashes_as_go(
    inspector: AsyncInspector, broker: Broker, client: redis.asyncio.Redis
) -> None:
    """Go quirk, reproduced: the inspector's archive trim leaves hashes (wire-protocol.md §10.6)."""
    old_id, expired_id = "oldest", "expired"
    members = {f"filler-{i}": NOW_S - 100 + i % 50 for i in range(9_998)}
    members |= {old_id: NOW_S - 1000, expired_id: NOW_S - 91 * 86_400}
    await client.zadd(keys.archived_key(Q), members)
    await client.hset(keys.task_key(Q, old_id), mapping={"msg": b"", "state": "archived"})
    msg = message()
    await broker.enqueue(msg)

    await inspector.archive_task(Q, msg.id)

    assert await client.zcard(keys.archived_key(Q)) == 9_999
    assert await client.zscore(keys.archived_key(Q), expired_id) is None
    assert await client.zscore(keys.archived_key(Q), old_id) is None
    assert await client.exists(keys.task_key(Q, old_id))  # orphaned hash, as Go leaves it


async def test_memory_usage_survives_a_vanished_task_hash(
    inspector: AsyncInspector, broker: Broker, client: redis.asyncio.Redis
) -> None:
    """Deliberate divergence: Go v0.26.0 fails here (nil MEMORY USAGE); we count 0 bytes."""
    await broker.enqueue(message())
    await client.lpush(keys.pending_key(Q), "no-such-task")
    await client.sadd(keys.all_groups(Q), "empty-group")
    info = await inspector.get_queue_info(Q)
    assert (info.pending, info.groups, info.aggregating) == (2, 1, 0)
    assert info.memory_usage > 0
