"""Server-side broker operations on real Redis: every key they leave is Go's.

The operations: wire-protocol.md §4-5, §9.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
import redis.asyncio
from google.protobuf.timestamp_pb2 import Timestamp
from kasynq import keys
from kasynq.broker import Broker
from kasynq.broker.batching import BatchingClient
from kasynq.broker.core import MAX_INT64, decode_task_message
from kasynq.client import AsyncClient
from kasynq.connection import AsyncRedis
from kasynq.errors import BrokerError, ScriptError
from kasynq.proto.asynq_pb2 import (
    SchedulerEnqueueEvent,
    SchedulerEntry,
    ServerInfo,
    TaskMessage,
    WorkerInfo,
)
from kasynq.task import Task
from redis.asyncio.cluster import RedisCluster

T0 = int(time.time())
"""Tests run on a fake clock near the real one: Redis expires keys by its own clock."""
DAY = datetime.fromtimestamp(T0, UTC).date()
NINETY_DAYS = 90 * 86400


@dataclass
class FakeClock:
    """Unix ns, moved by tests."""

    ns: int = T0 * 1_000_000_000 + 400_000_000

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * 1_000_000_000)


Conn = redis.asyncio.Redis | RedisCluster


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(async_redis: redis.asyncio.Redis, clock: FakeClock) -> Broker:
    return Broker(async_redis, clock=clock)


async def _enqueue(conn: Conn, clock: FakeClock, *tasks: Task) -> list[str]:
    results = await AsyncClient(conn, clock=clock).enqueue_many(list(tasks))
    return [result.id for result in results]  # type: ignore[union-attr]


async def _active(conn: Conn, clock: FakeClock, broker: Broker, task: Task) -> TaskMessage:
    await _enqueue(conn, clock, task)
    dequeued = await broker.dequeue(task.options.queue or "default")
    assert dequeued is not None
    return dequeued[0]


async def _state(conn: Conn, queue: str, task_id: str) -> bytes | None:
    value: bytes | None = await conn.hget(keys.task_key(queue, task_id), "state")
    return value


async def _stored(conn: Conn, queue: str, task_id: str) -> TaskMessage:
    return decode_task_message(await conn.hget(keys.task_key(queue, task_id), "msg"))


async def _ints(conn: Conn, *names: str) -> list[int | None]:
    return [None if value is None else int(value) for value in [await conn.get(n) for n in names]]


async def test_dequeue_takes_oldest_skips_paused_and_leases(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    first, second = await _enqueue(async_redis, clock, Task("a"), Task("b"))
    await _enqueue(async_redis, clock, Task("c", queue="paused"))
    await async_redis.set(keys.paused_key("paused"), T0)
    dequeued = await server.dequeue("empty", "paused", "default")
    assert dequeued is not None
    msg, lease = dequeued
    assert msg.id == first and lease == T0 + 30.4
    task_hash = await async_redis.hgetall(keys.task_key("default", first))
    assert set(task_hash) == {b"msg", b"state"} and task_hash[b"state"] == b"active"
    assert await async_redis.lrange(keys.active_key("default"), 0, -1) == [first.encode()]
    assert await async_redis.zscore(keys.lease_key("default"), first) == T0 + 30
    assert await async_redis.lrange(keys.pending_key("default"), 0, -1) == [second.encode()]
    assert (await server.dequeue("default"))[0].id == second  # type: ignore[index]
    assert await server.dequeue("default", "paused", "empty") is None


@pytest.mark.parametrize("pipelined", [False, True], ids=["redis-py", "pipelined"])
async def test_dequeue_many_walks_each_order_and_keeps_every_outcome_in_place(
    async_redis: redis.asyncio.Redis, clock: FakeClock, pipelined: bool
) -> None:
    batching = BatchingClient(async_redis) if pipelined else None
    broker = Broker(cast(AsyncRedis, batching) if batching else async_redis, clock=clock)
    (a1,) = await _enqueue(async_redis, clock, Task("t", queue="a"))
    b1, b2 = await _enqueue(async_redis, clock, Task("t", queue="b"), Task("t", queue="b"))
    await _enqueue(async_redis, clock, Task("t", queue="c"))
    await async_redis.set(keys.paused_key("c"), T0)
    (bad,) = await _enqueue(async_redis, clock, Task("t", queue="bad"))
    await async_redis.hset(keys.task_key("bad", bad), "msg", b"\xff\xff\xff")
    orders = [["c", "a"], ["a", "b"], ["b"], ["empty"], ["bad", "b"], [], ["c", "empty", "a"]]
    try:
        results = await broker.dequeue_many(orders)
    finally:
        if batching is not None:
            await batching.close_connection()
    assert len(results) == len(orders)
    taken = [result[0].id if isinstance(result, tuple) else result for result in results]
    # round 1 gives "a" to the second order (the first finds "c" paused); round 2 finds "a"
    # empty for the first order; the last order goes on to its third queue in round 3
    assert taken[:4] == [None, a1, b1, None] and taken[5:] == [None, None]
    assert isinstance(results[4], BrokerError) and "cannot decode" in str(results[4])
    first = results[1]
    assert isinstance(first, tuple)
    assert first[1] == T0 + 30.4 and first[2] is not None and first[2] > 0
    assert await async_redis.lrange(keys.pending_key("b"), 0, -1) == [b2.encode()]
    assert await async_redis.llen(keys.pending_key("c")) == 1


async def test_done_deletes_counts_and_releases_own_lock(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    msg = await _active(async_redis, clock, server, Task("t", b"p", unique=60))
    await server.done(msg)
    assert await async_redis.exists(keys.task_key("default", msg.id)) == 0
    assert await async_redis.llen(keys.active_key("default")) == 0
    assert await async_redis.zcard(keys.lease_key("default")) == 0
    daily = keys.processed_key("default", DAY)
    assert await _ints(async_redis, daily, keys.processed_total_key("default")) == [1, 1]
    assert await async_redis.expiretime(daily) == T0 + NINETY_DAYS
    assert await async_redis.exists(msg.unique_key) == 0
    with pytest.raises(ScriptError, match="NOT FOUND"):
        await server.done(msg)


async def test_daily_counters_follow_the_clock_past_utc_midnight(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    first = await _active(async_redis, clock, server, Task("t"))
    await server.done(first)
    clock.advance(86400)
    second = await _active(async_redis, clock, server, Task("t"))
    await server.done(second)
    today, tomorrow = DAY, DAY + timedelta(days=1)
    assert await _ints(
        async_redis,
        keys.processed_key("default", today),
        keys.processed_key("default", tomorrow),
    ) == [1, 1]


async def test_done_keeps_a_lock_owned_by_another_task_and_wraps_total(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    msg = await _active(async_redis, clock, server, Task("t", b"p", unique=60))
    await async_redis.set(msg.unique_key, "someone-else")
    await async_redis.set(keys.processed_total_key("default"), MAX_INT64)
    await server.done(msg)
    assert await async_redis.get(msg.unique_key) == b"someone-else"
    assert await _ints(async_redis, keys.processed_total_key("default")) == [1]


async def test_mark_as_complete_keeps_task_until_retention(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    msg = await _active(async_redis, clock, server, Task("t", b"p", unique=60, retention=3600))
    await async_redis.hset(keys.task_key("default", msg.id), "result", b"r")
    await server.mark_as_complete(msg)
    assert await _state(async_redis, "default", msg.id) == b"completed"
    assert (await _stored(async_redis, "default", msg.id)).completed_at == T0
    assert await async_redis.hget(keys.task_key("default", msg.id), "result") == b"r"
    assert await async_redis.zscore(keys.completed_key("default"), msg.id) == T0 + 3600
    assert await async_redis.exists(msg.unique_key) == 0
    assert await _ints(async_redis, keys.processed_total_key("default")) == [1]


async def test_requeue_pushes_to_the_dequeue_end_without_stats(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    msg = await _active(async_redis, clock, server, Task("t"))
    (waiting,) = await _enqueue(async_redis, clock, Task("u"))
    await server.requeue(msg)
    pending = await async_redis.lrange(keys.pending_key("default"), 0, -1)
    assert pending == [waiting.encode(), msg.id.encode()]
    assert set(await async_redis.hgetall(keys.task_key("default", msg.id))) == {b"msg", b"state"}
    assert await _state(async_redis, "default", msg.id) == b"pending"
    assert await async_redis.get(keys.processed_total_key("default")) is None


async def test_retry_records_failure_and_counts_only_failures(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    msg = await _active(async_redis, clock, server, Task("t", b"p", unique=60))
    await server.retry(msg, T0 + 44.9, "boom", is_failure=True)
    stored = await _stored(async_redis, "default", msg.id)
    assert (stored.retried, stored.error_msg, stored.last_failed_at) == (1, "boom", T0)
    assert msg.retried == 0
    assert await async_redis.zscore(keys.retry_key("default"), msg.id) == T0 + 44
    assert await _state(async_redis, "default", msg.id) == b"retry"
    counters = [
        keys.processed_key("default", DAY),
        keys.failed_key("default", DAY),
        keys.processed_total_key("default"),
        keys.failed_total_key("default"),
    ]
    assert await _ints(async_redis, *counters) == [1, 1, 1, 1]
    assert await async_redis.expiretime(counters[1]) == T0 + NINETY_DAYS
    assert await async_redis.get(msg.unique_key) == msg.id.encode()

    clock.advance(60)
    await server.forward_if_ready("default")
    again = (await server.dequeue("default"))[0]  # type: ignore[index]
    await server.retry(again, T0 + 200, "not a failure", is_failure=False)
    stored = await _stored(async_redis, "default", msg.id)
    assert (stored.retried, stored.error_msg) == (1, "not a failure")
    assert await _ints(async_redis, *counters) == [1, 1, 1, 1]


async def test_archive_records_error_counts_and_trims(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    archived = keys.archived_key("default")
    seed = async_redis.pipeline(transaction=False)
    for index in range(9999):
        task_id = f"old{index}"
        seed.hset(keys.task_key("default", task_id), mapping={"msg": b"", "state": "archived"})
        seed.zadd(archived, {task_id: T0 - 1000 + index})
    seed.hset(keys.task_key("default", "ancient"), mapping={"msg": b"", "state": "archived"})
    seed.zadd(archived, {"ancient": T0 - NINETY_DAYS})
    await seed.execute()
    msg = await _active(async_redis, clock, server, Task("t", max_retry=0))
    await server.archive(msg, "gave up")
    assert await async_redis.zcard(archived) == 9999
    assert await async_redis.zscore(archived, msg.id) == T0
    for gone in ("ancient", "old0"):
        assert await async_redis.zscore(archived, gone) is None
        assert await async_redis.exists(keys.task_key("default", gone)) == 0
    assert await async_redis.exists(keys.task_key("default", "old1")) == 1
    stored = await _stored(async_redis, "default", msg.id)
    assert (stored.retried, stored.error_msg, stored.last_failed_at) == (0, "gave up", T0)
    assert await _state(async_redis, "default", msg.id) == b"archived"
    assert await _ints(async_redis, keys.failed_total_key("default")) == [1]


async def test_forward_moves_due_tasks_to_pending_or_their_group(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    due = await _enqueue(async_redis, clock, *[Task("t", process_in=10) for _ in range(150)])
    (later,) = await _enqueue(async_redis, clock, Task("t", process_in=100))
    grouped = await _active(async_redis, clock, server, Task("t", queue="x"))
    # as a grouped task run early by an inspector: its hash keeps the group field
    await async_redis.hset(keys.task_key("x", grouped.id), "group", "g")
    clock.advance(10)
    await server.forward_if_ready("default")
    assert await async_redis.llen(keys.pending_key("default")) == 150
    assert await async_redis.zrange(keys.scheduled_key("default"), 0, -1) == [later.encode()]
    task_hash = await async_redis.hgetall(keys.task_key("default", due[0]))
    assert task_hash[b"state"] == b"pending" and int(task_hash[b"pending_since"]) == clock.ns
    # a retried task whose hash has a group field goes back to its group, not to pending
    await server.retry(grouped, T0, "boom", is_failure=True)
    await server.forward_if_ready("x")
    assert await async_redis.zscore(keys.group_key("x", "g"), grouped.id) == T0 + 10
    assert await _state(async_redis, "x", grouped.id) == b"aggregating"
    assert await async_redis.smembers(keys.all_groups("x")) == set()  # Go's quirk


async def test_janitor_and_recoverer_queries(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    for _ in range(5):
        await server.mark_as_complete(
            await _active(async_redis, clock, server, Task("t", retention=10))
        )
    kept = await _active(async_redis, clock, server, Task("t", retention=1000))
    await server.mark_as_complete(kept)
    clock.advance(10)
    assert await server.delete_expired_completed_tasks("default", batch_size=2) == 5
    assert await async_redis.zrange(keys.completed_key("default"), 0, -1) == [kept.id.encode()]
    assert await async_redis.exists(keys.task_key("default", kept.id)) == 1

    stale = await _active(async_redis, clock, server, Task("t"))
    clock.advance(20)
    fresh = await _active(async_redis, clock, server, Task("t"))
    assert await server.list_lease_expired(T0 + 10 + 30, "default", "other") == [stale]
    assert fresh.id not in [m.id for m in await server.list_lease_expired(T0 + 59, "default")]
    expiry = await server.extend_lease("default", stale.id, "not-leased")
    assert expiry == clock.ns / 1e9 + 30
    assert await async_redis.zscore(keys.lease_key("default"), stale.id) == int(expiry)
    assert await async_redis.zscore(keys.lease_key("default"), "not-leased") is None


async def test_write_result_has_no_existence_check(
    server: Broker, async_redis: redis.asyncio.Redis
) -> None:
    assert await server.write_result("q", "gone", b"abc") == 3
    assert await async_redis.hgetall(keys.task_key("q", "gone")) == {b"result": b"abc"}


async def test_server_state_written_and_cleared(
    server: Broker, async_redis: redis.asyncio.Redis
) -> None:
    info = ServerInfo(host="h", pid=7, server_id="sid", concurrency=2, status="active")
    workers = [WorkerInfo(host="h", pid=7, server_id="sid", task_id=f"t{i}") for i in range(2)]
    await server.write_server_state(info, workers, ttl=10)
    server_key, workers_key = keys.server_info_key("h", 7, "sid"), keys.workers_key("h", 7, "sid")
    assert ServerInfo.FromString(await async_redis.get(server_key)) == info
    assert 9 <= await async_redis.ttl(server_key) <= 10
    assert set(await async_redis.hkeys(workers_key)) == {b"t0", b"t1"}
    assert 9 <= await async_redis.ttl(workers_key) <= 10
    assert await async_redis.zscore(keys.ALL_SERVERS, server_key) == T0 + 10
    assert await async_redis.zscore(keys.ALL_WORKERS, workers_key) == T0 + 10
    await server.write_server_state(info, [], ttl=10)
    assert await async_redis.exists(workers_key) == 0
    await server.clear_server_state("h", 7, "sid")
    assert await async_redis.exists(server_key) == 0
    assert await async_redis.zcard(keys.ALL_SERVERS) == 0
    assert await async_redis.zcard(keys.ALL_WORKERS) == 0


async def test_cancellation_round_trip(server: Broker) -> None:
    subscription = await server.subscribe_cancellations()
    try:
        await server.publish_cancellation("task-1")
        ids = aiter(subscription)
        assert await asyncio.wait_for(anext(ids), 5) == "task-1"
    finally:
        await subscription.close()


async def test_aggregation_by_size_delay_and_grace(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    ids: list[str] = []
    for _ in range(3):
        ids += await _enqueue(async_redis, clock, Task("t", group="g"))
        clock.advance(1)
    now = clock.ns / 1e9
    assert await server.aggregation_check("default", "g", now, 60, 0, 0) == ""
    set_id = await server.aggregation_check("default", "g", now, 60, 0, 2)
    assert set_id
    set_key = keys.aggregation_set_key("default", "g", set_id)
    assert await async_redis.zcard(set_key) == 2
    assert await async_redis.zscore(keys.all_aggregation_sets("default"), set_key) == T0 + 123
    assert await async_redis.smembers(keys.all_groups("default")) == {b"g"}
    messages, deadline = await server.read_aggregation_set("default", "g", set_id)
    assert [m.id for m in messages] == ids[:2]
    assert deadline == T0 + 3 + 120
    await server.delete_aggregation_set("default", "g", set_id)
    assert await async_redis.exists(set_key) == 0
    assert await async_redis.zcard(keys.all_aggregation_sets("default")) == 0
    for message in messages:
        assert await async_redis.exists(keys.task_key("default", message.id)) == 0

    assert await server.aggregation_check("default", "g", now + 30, 60, 30, 0)
    assert await async_redis.exists(keys.group_key("default", "g")) == 0
    assert await async_redis.smembers(keys.all_groups("default")) == set()

    await _enqueue(async_redis, clock, Task("t", group="h"))
    assert await server.aggregation_check("default", "h", now + 59, 60, 0, 0) == ""
    set_id = await server.aggregation_check("default", "h", now + 60, 60, 0, 0)
    assert set_id
    clock.advance(121)
    await server.reclaim_stale_aggregation_sets("default")
    assert await async_redis.zscore(keys.group_key("default", "h"), ids[0]) is None
    assert await async_redis.zcard(keys.group_key("default", "h")) == 1
    assert await async_redis.zcard(keys.all_aggregation_sets("default")) == 0
    assert await server.list_groups("default") == []  # reclaim does not re-add, as Go


async def test_scheduler_entries_and_history(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    entries = [SchedulerEntry(id="e1", spec="@every 1s"), SchedulerEntry(id="e2", spec="* * * * *")]
    await server.write_scheduler_entries("h:1:u", entries, ttl=20)
    key = keys.scheduler_entries_key("h:1:u")
    stored = [SchedulerEntry.FromString(raw) for raw in await async_redis.lrange(key, 0, -1)]
    assert [entry.id for entry in stored] == ["e2", "e1"]
    assert 19 <= await async_redis.ttl(key) <= 20
    assert await async_redis.zscore(keys.ALL_SCHEDULERS, key) == T0 + 20
    await server.clear_scheduler_entries("h:1:u")
    assert await async_redis.exists(key) == 0 and await async_redis.zcard(keys.ALL_SCHEDULERS) == 0

    history = keys.scheduler_history_key("e1")
    for second in range(1001):
        event = SchedulerEnqueueEvent(
            task_id=f"t{second}", enqueue_time=Timestamp(seconds=T0 + second)
        )
        await server.record_scheduler_enqueue_event("e1", event)
    assert await async_redis.zcard(history) == 1000
    newest = SchedulerEnqueueEvent.FromString((await async_redis.zrange(history, -1, -1))[0])
    assert newest.task_id == "t1000"
    await server.clear_scheduler_history("e1")
    assert await async_redis.exists(history) == 0


async def test_processing_cycle_on_cluster(async_redis_cluster: RedisCluster) -> None:
    clock = FakeClock()
    broker = Broker(async_redis_cluster, clock=clock)
    for queue in ("a", "b", "c", "d"):
        done = await _active(
            async_redis_cluster, clock, broker, Task("t", b"1", queue=queue, unique=9)
        )
        await broker.done(done)
        kept = await _active(
            async_redis_cluster, clock, broker, Task("t", queue=queue, retention=5)
        )
        await broker.mark_as_complete(kept)
        retried = await _active(async_redis_cluster, clock, broker, Task("t", queue=queue))
        await broker.retry(retried, T0, "e", is_failure=True)
        archived = await _active(async_redis_cluster, clock, broker, Task("t", queue=queue))
        await broker.archive(archived, "e")
        requeued = await _active(async_redis_cluster, clock, broker, Task("t", queue=queue))
        await broker.requeue(requeued)
        clock.advance(10)
        await broker.forward_if_ready(queue)
        assert await broker.delete_expired_completed_tasks(queue) == 1
        assert await async_redis_cluster.llen(keys.pending_key(queue)) == 2
        assert await broker.list_lease_expired(clock.ns / 1e9, queue) == []
        await _enqueue(async_redis_cluster, clock, Task("t", queue=queue, group="g"))
        set_id = await broker.aggregation_check(queue, "g", clock.ns / 1e9 + 60, 60, 0, 0)
        assert len((await broker.read_aggregation_set(queue, "g", set_id))[0]) == 1
        await broker.delete_aggregation_set(queue, "g", set_id)
        await broker.reclaim_stale_aggregation_sets(queue)


async def test_undecodable_messages(
    server: Broker, async_redis: redis.asyncio.Redis, clock: FakeClock
) -> None:
    (bad,) = await _enqueue(async_redis, clock, Task("t"))
    await async_redis.hset(keys.task_key("default", bad), "msg", b"\xff\xff\xff")
    with pytest.raises(BrokerError, match="cannot decode message"):
        await server.dequeue("default")
    assert await async_redis.zscore(keys.lease_key("default"), bad) == T0 + 30  # as Go leaves it
    good = await _active(async_redis, clock, server, Task("t"))
    # Go fails the whole call here; kasynq skips the bad message so recovery goes on
    assert await server.list_lease_expired(T0 + 30, "default") == [good]
