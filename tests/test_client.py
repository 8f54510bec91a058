"""AsyncClient and Client on real Redis: enqueues leave Go's keys (wire-protocol.md §4.4-4.9)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import redis
import redis.asyncio
from kasynq import keys
from kasynq.client import AsyncClient, Client
from kasynq.errors import DuplicateTaskError, TaskIDConflictError
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.task import Task, TaskState
from redis.asyncio.cluster import RedisCluster

from devenv.redis_servers import RedisCluster as ClusterServers
from devenv.redis_servers import RedisSentinel


@pytest.fixture
async def client(async_redis: redis.asyncio.Redis) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(async_redis) as producer:
        yield producer


async def _hash(
    conn: redis.asyncio.Redis | RedisCluster, queue: str, task_id: str
) -> dict[str, bytes]:
    raw = await conn.hgetall(keys.task_key(queue, task_id))
    return {field.decode(): value for field, value in raw.items()}


async def test_enqueue_writes_hash_pending_list_and_queue(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    before = time.time_ns()
    info = await client.enqueue(Task("email:send", b"\x00\xff", headers={"h": "v"}), queue="q")
    fields = await _hash(async_redis, "q", info.id)
    assert set(fields) == {"msg", "state", "pending_since"}
    assert fields["state"] == b"pending"
    assert before <= int(fields["pending_since"]) <= time.time_ns()
    msg = TaskMessage.FromString(fields["msg"])
    assert (msg.type, msg.payload, msg.queue, msg.id, dict(msg.headers)) == (
        "email:send",
        b"\x00\xff",
        "q",
        info.id,
        {"h": "v"},
    )
    assert await async_redis.lrange(keys.pending_key("q"), 0, -1) == [info.id.encode()]
    assert await async_redis.smembers(keys.ALL_QUEUES) == {b"q"}
    assert info.state is TaskState.PENDING and info.payload == b"\x00\xff"


async def test_task_id_conflict_is_per_queue(client: AsyncClient) -> None:
    await client.enqueue(Task("t"), task_id="same")
    with pytest.raises(TaskIDConflictError):
        await client.enqueue(Task("t"), task_id="same", process_in=60)
    with pytest.raises(TaskIDConflictError):
        await client.enqueue(Task("t"), task_id="same", group="g")
    info = await client.enqueue(Task("t"), task_id="same", queue="other")
    assert info.queue == "other"


async def test_every_enqueue_registers_the_queue_again(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    await client.enqueue(Task("t"), task_id="x")
    await async_redis.delete(keys.ALL_QUEUES)  # as an inspector's DeleteQueue would
    with pytest.raises(TaskIDConflictError):
        await client.enqueue(Task("t"), task_id="x")
    assert await async_redis.smembers(keys.ALL_QUEUES) == {b"default"}


async def test_unique_lock_blocks_duplicates_and_survives_id_conflict(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    first = await client.enqueue(Task("t", b"p"), unique=100)
    lock = keys.unique_key("default", "t", b"p")
    assert await async_redis.get(lock) == first.id.encode()
    assert 99 <= await async_redis.ttl(lock) <= 100
    assert (await _hash(async_redis, "default", first.id))["unique_key"] == lock.encode()
    with pytest.raises(DuplicateTaskError):
        await client.enqueue(Task("t", b"p"), unique=100)
    await async_redis.delete(lock)
    with pytest.raises(TaskIDConflictError):
        await client.enqueue(Task("t", b"p"), unique=50, task_id=first.id)
    assert await async_redis.get(lock) == first.id.encode()  # Go keeps the lock here too


async def test_schedule_writes_scheduled_zset_without_pending_since(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    info = await client.enqueue(Task("t", b"p"), process_in=120, group="g", unique=10)
    assert info.state is TaskState.SCHEDULED and info.next_process_at is not None
    fields = await _hash(async_redis, "default", info.id)
    assert set(fields) == {"msg", "state", "unique_key"}
    assert fields["state"] == b"scheduled"
    assert TaskMessage.FromString(fields["msg"]).group_key == "g"
    score = await async_redis.zscore(keys.scheduled_key("default"), info.id)
    assert score == int(info.next_process_at.timestamp())
    assert 128 <= await async_redis.ttl(keys.unique_key("default", "t", b"p")) <= 130


async def test_group_writes_group_zset_and_groups_set(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    before = int(time.time())
    info = await client.enqueue(Task("t", b"p"), group="g", unique=30)
    fields = await _hash(async_redis, "default", info.id)
    assert set(fields) == {"msg", "state", "group"}  # no unique_key, as Go's AddToGroupUnique
    assert (fields["state"], fields["group"]) == (b"aggregating", b"g")
    score = await async_redis.zscore(keys.group_key("default", "g"), info.id)
    assert score is not None and before <= score <= time.time()
    assert await async_redis.smembers(keys.all_groups("default")) == {b"g"}
    assert await async_redis.get(keys.unique_key("default", "t", b"p")) == info.id.encode()


async def test_enqueue_many_returns_one_result_per_task(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    await client.enqueue(Task("t"), task_id="taken")
    tasks = [
        Task("a", queue="q1"),
        Task("b", task_id="taken"),
        Task("c", b"u", unique=60, queue="q2"),
        Task("c", b"u", unique=60, queue="q2"),
        Task("d", process_in=60, queue="q3"),
        Task("e", group="g"),
    ]
    results = await client.enqueue_many(tasks)
    assert isinstance(results[1], TaskIDConflictError)
    assert isinstance(results[3], DuplicateTaskError)
    states = [getattr(result, "state", None) for result in results]
    assert states == [
        TaskState.PENDING,
        None,
        TaskState.PENDING,
        None,
        TaskState.SCHEDULED,
        TaskState.AGGREGATING,
    ]
    assert await async_redis.smembers(keys.ALL_QUEUES) == {b"default", b"q1", b"q2", b"q3"}
    assert await async_redis.llen(keys.pending_key("q1")) == 1


async def test_enqueue_many_keeps_a_task_it_cannot_build_out_and_writes_the_others(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    tasks = [Task("a"), Task("b", process_in=timedelta.max), Task("c")]
    results = await client.enqueue_many(tasks)
    assert isinstance(results[1], ValueError) and "process_in" in str(results[1])
    assert [getattr(result, "type", None) for result in results] == ["a", None, "c"]
    assert await async_redis.llen(keys.pending_key("default")) == 2


async def test_enqueue_after_script_flush(
    client: AsyncClient, async_redis: redis.asyncio.Redis
) -> None:
    await client.enqueue(Task("t"))
    await async_redis.script_flush()
    await client.enqueue(Task("t"))
    await async_redis.script_flush()
    assert all(not isinstance(r, Exception) for r in await client.enqueue_many([Task("t")] * 3))
    assert await async_redis.llen(keys.pending_key("default")) == 5


async def test_every_enqueue_kind_on_cluster(async_redis_cluster: RedisCluster) -> None:
    client = AsyncClient(async_redis_cluster)
    queues = [f"q{index}" for index in range(8)]
    tasks = [Task("t", b"p", queue=queue, unique=60) for queue in queues]
    tasks += [Task("t", queue=queue, process_in=60) for queue in queues]
    tasks += [Task("t", queue=queue, group="g") for queue in queues]
    results = await client.enqueue_many(tasks)
    assert all(not isinstance(result, Exception) for result in results), results
    for queue in queues:
        assert await async_redis_cluster.llen(keys.pending_key(queue)) == 1
        assert await async_redis_cluster.zcard(keys.scheduled_key(queue)) == 1
        assert await async_redis_cluster.zcard(keys.group_key(queue, "g")) == 1
    assert await async_redis_cluster.smembers(keys.ALL_QUEUES) == {q.encode() for q in queues}
    with pytest.raises(DuplicateTaskError):
        await client.enqueue(Task("t", b"p", queue="q0", unique=60))
    info = await client.enqueue(Task("t", queue="q0"), group="g", unique=5)
    assert info.state is TaskState.AGGREGATING


def test_blocking_client_from_url_and_from_redis(redis_url: str) -> None:
    with Client.from_url(redis_url) as producer:
        first = producer.enqueue(Task("t"), queue="q")
        assert producer.ping()
    blocking = redis.Redis.from_url(redis_url)
    with Client(blocking) as producer:
        results = producer.enqueue_many([Task("t"), Task("t", task_id=first.id, queue="q")])
    assert isinstance(results[1], TaskIDConflictError)
    assert blocking.llen(keys.pending_key("q")) == 1
    assert blocking.llen(keys.pending_key("default")) == 1
    blocking.close()


def test_blocking_client_on_sentinel_and_cluster(
    redis_sentinel: RedisSentinel, redis_cluster: ClusterServers
) -> None:
    with Client.from_sentinel(redis_sentinel.master_name, redis_sentinel.sentinels) as producer:
        info = producer.enqueue(Task("t"))
    with redis_sentinel.master.client() as master:
        assert master.lrange(keys.pending_key("default"), 0, -1) == [info.id.encode()]
    sentinel_url = (
        f"redis-sentinel://127.0.0.1:{redis_sentinel.sentinel.port}"
        f"?master={redis_sentinel.master_name}"
    )
    with Client.from_url(sentinel_url) as producer:
        producer.enqueue(Task("t"))
    with Client.from_cluster(redis_cluster.startup_nodes) as producer:
        producer.enqueue(Task("t", queue="c1"))
    with Client.from_cluster(redis_cluster.urls[0]) as producer:
        assert not isinstance(producer.enqueue_many([Task("t", queue="c2")])[0], Exception)
