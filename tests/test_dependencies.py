"""Task dependencies, chains and groups on real Redis, standalone and Cluster
(wire-protocol.md §13): waiting tasks, settling, releasing once, failures, cycles."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio
from kasynq import keys
from kasynq.broker import Broker
from kasynq.broker.dependencies import (
    DEPENDANTS_HEADER,
    DEPENDENCY_RETENTION_SECONDS,
    WAITING_SCORE,
)
from kasynq.client import AsyncClient, Client
from kasynq.context import TaskContext
from kasynq.dependencies import Edge, TaskLinks, run_plan, scan_plan, settle_plan
from kasynq.errors import DependencyCycleError, TaskIDConflictError, UnknownDependencyError
from kasynq.inspector import AsyncInspector
from kasynq.server import Server
from kasynq.task import Task, TaskState
from kasynq.workflow import chain, group
from redis.asyncio.cluster import RedisCluster

from tests.server_helpers import FAST, task_state, wait_for

AnyRedis = redis.asyncio.Redis | RedisCluster


@pytest.fixture(params=["standalone", "cluster"])
def conn(request: pytest.FixtureRequest) -> AnyRedis:
    name = "async_redis" if request.param == "standalone" else "async_redis_cluster"
    client: AnyRedis = request.getfixturevalue(name)
    return client


@pytest.fixture
async def client(conn: AnyRedis) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(conn) as producer:
        yield producer


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        await server.shutdown()


async def _start(servers: list[Server], conn: AnyRedis, handler: Any, **options: Any) -> Server:
    server = Server(conn, **{**FAST, "dependency_check_interval": 0.1, **options})
    servers.append(server)
    await server.start(handler)
    return server


async def _run_one(broker: Broker, queue: str, *, fail: bool = False) -> str:
    """Dequeue one task of `queue` and complete it (as its msg says) or archive it."""
    found = await broker.dequeue(queue)
    assert found is not None
    msg = found[0]
    if fail:
        await broker.archive(msg, "boom")
    elif msg.retention:
        await broker.mark_as_complete(msg)
    else:
        await broker.done(msg)
    return msg.id


async def _settle(conn: AnyRedis, queue: str, task_id: str) -> None:
    await run_plan(conn, settle_plan([keys.task_key(queue, task_id)], _now()))


def _now() -> int:
    return time.time_ns()


async def test_a_dependant_waits_as_a_task_go_never_forwards(
    client: AsyncClient, conn: AnyRedis
) -> None:
    first = await client.enqueue(Task("first"), queue="q1")
    waiting = await client.enqueue(Task("second"), queue="q2", depends_on=[first])
    assert waiting.state is TaskState.SCHEDULED
    assert waiting.next_process_at is not None and waiting.next_process_at.year == 2200
    assert await conn.zscore(keys.scheduled_key("q2"), waiting.id) == WAITING_SCORE
    assert (await task_state(conn, "q2", waiting.id))["state"] == "scheduled"
    assert await conn.sismember(keys.ALL_QUEUES, "q2")
    wait = await conn.hgetall(keys.wait_key("q2", waiting.id))
    assert wait == {
        b"policy": b"archive",
        b"remaining": b"1",
        keys.task_key("q1", first.id).encode(): b"0:waiting",
    }
    # the dependency's message now keeps its hash after success and names its dependants
    msg = (await task_state(conn, "q1", first.id))["msg"]
    assert msg.retention == DEPENDENCY_RETENTION_SECONDS
    assert msg.headers[DEPENDANTS_HEADER] == "1"
    assert await conn.zrange(keys.depended_key("q1"), 0, -1) == [first.id.encode()]


async def test_task_links_name_dependencies_and_dependants(
    client: AsyncClient, conn: AnyRedis
) -> None:
    first = await client.enqueue(Task("first"), queue="q1")
    waiting = [
        await client.enqueue(Task("w"), queue=queue, depends_on=[first])
        for queue in ("q2", "q2", "q3")
    ]
    async with AsyncInspector(conn) as inspector:
        links = await inspector.task_links("q1", first.id)
        assert (links.dependencies, links.dependant_count) == ([], 3)
        assert links.dependants == sorted((w.queue, w.id) for w in waiting)
        some = await inspector.task_links("q1", first.id, dependants_limit=2)
        assert some.dependant_count == 3 and len(some.dependants) == 2
        assert set(some.dependants) < set(links.dependants)
        middle = await inspector.task_links("q2", waiting[0].id)
        assert middle == TaskLinks([Edge("q1", first.id, "waiting")], [], 0)
        with pytest.raises(ValueError, match="dependants_limit must be at least 1"):
            await inspector.task_links("q1", first.id, dependants_limit=0)


async def test_completion_releases_the_dependant_exactly_once(
    client: AsyncClient, conn: AnyRedis
) -> None:
    broker = Broker(conn)
    first = await client.enqueue(Task("first"), queue="q1")
    other = await client.enqueue(Task("other"), queue="q3")
    waiting = await client.enqueue(Task("last"), queue="q2", depends_on=[first, other])
    await _run_one(broker, "q1")
    for _ in range(2):  # a second settle (another releaser) changes nothing
        await _settle(conn, "q1", first.id)
    assert (await task_state(conn, "q2", waiting.id))["state"] == "scheduled"
    assert await conn.hget(keys.wait_key("q2", waiting.id), "remaining") == b"1"
    await _run_one(broker, "q3")
    await run_plan(conn, scan_plan("q3", _now()))
    state = await task_state(conn, "q2", waiting.id)
    assert state["state"] == "pending" and "pending_since" in state
    assert await conn.lrange(keys.pending_key("q2"), 0, -1) == [waiting.id.encode()]
    assert await conn.zscore(keys.scheduled_key("q2"), waiting.id) is None
    for queue, task_id in (("q1", first.id), ("q3", other.id)):
        await _settle(conn, queue, task_id)
        assert not await conn.exists(keys.dependants_key(queue, task_id))
        assert await conn.zcard(keys.depended_key(queue)) == 0
    assert await conn.lrange(keys.pending_key("q2"), 0, -1) == [waiting.id.encode()]


async def test_an_archived_dependency_archives_its_dependants_with_the_reason(
    client: AsyncClient, conn: AnyRedis
) -> None:
    broker = Broker(conn)
    first = await client.enqueue(Task("first"), queue="q1")
    second = await client.enqueue(Task("second"), queue="q2", depends_on=[first])
    third = await client.enqueue(Task("third"), queue="q2", depends_on=[second.id])
    runs = await client.enqueue(
        Task("runs"), queue="q1", depends_on=[first], on_dependency_failure="run"
    )
    await _run_one(broker, "q1", fail=True)
    await run_plan(conn, scan_plan("q1", _now()))
    for task_id in (second.id, third.id):
        state = await task_state(conn, "q2", task_id)
        assert state["state"] == "archived"
        assert await conn.zscore(keys.archived_key("q2"), task_id) is not None
    assert (await task_state(conn, "q2", second.id))["msg"].error_msg == (
        f"dependency {first.id} in queue q1 was archived"
    )
    assert (await task_state(conn, "q2", third.id))["msg"].error_msg == (
        f"dependency {second.id} in queue q2 was archived"
    )
    assert (await task_state(conn, "q1", runs.id))["state"] == "pending"
    # later dependants learn the outcome at enqueue
    late = await client.enqueue(Task("late"), queue="q2", depends_on=[first])
    assert (await task_state(conn, "q2", late.id))["state"] == "archived"


async def test_a_deleted_dependency_is_noticed_by_the_releaser(
    client: AsyncClient, conn: AnyRedis
) -> None:
    first = await client.enqueue(Task("first"), queue="q1")
    waiting = await client.enqueue(Task("second"), queue="q2", depends_on=[first])
    await conn.delete(keys.task_key("q1", first.id))  # Go's Inspector DeleteTask, in effect
    await conn.lrem(keys.pending_key("q1"), 0, first.id)
    await run_plan(conn, scan_plan("q1", _now()))
    state = await task_state(conn, "q2", waiting.id)
    assert state["state"] == "archived"
    assert state["msg"].error_msg == f"dependency {first.id} in queue q1 was deleted"


async def test_a_dependency_linked_while_active_is_completed_when_its_hash_goes(
    client: AsyncClient, conn: AnyRedis
) -> None:
    broker = Broker(conn)
    first = await client.enqueue(Task("first"), queue="q1")
    found = await broker.dequeue("q1")
    assert found is not None
    running = found[0]  # its worker holds this message, without retention
    waiting = await client.enqueue(Task("second"), queue="q2", depends_on=[first])
    assert await conn.hget(keys.dependency_key("q1", running.id), "unretained") == b"1"
    assert waiting.queue == "q2"
    await broker.done(running)  # rdb.Done deletes the hash
    await run_plan(conn, scan_plan("q1", _now()))
    assert (await task_state(conn, "q2", waiting.id))["state"] == "pending"


async def test_unknown_ids_and_cycles_are_refused_before_anything_is_written(
    client: AsyncClient, conn: AnyRedis
) -> None:
    with pytest.raises(UnknownDependencyError, match="'nope' in queue 'q1'"):
        await client.enqueue(Task("t"), queue="q1", depends_on=["nope"])
    with pytest.raises(DependencyCycleError, match="'me'"):
        await client.enqueue(Task("t"), queue="q1", task_id="me", depends_on=["me"])
    first = await client.enqueue(Task("first"), queue="q1", task_id="x")
    middle = await client.enqueue(Task("middle"), queue="q2", depends_on=[first])
    # x goes away (deleted by hand) and comes back waiting for what waits for it
    await conn.delete(keys.task_key("q1", "x"))
    with pytest.raises(DependencyCycleError, match="'x' in queue 'q1'"):
        await client.enqueue(Task("again"), queue="q1", task_id="x", depends_on=[middle])
    assert not await conn.exists(keys.task_key("q1", "x"))
    with pytest.raises(ValueError, match="on_dependency_failure"):
        await client.enqueue(Task("t"), depends_on=[first], on_dependency_failure="maybe")
    with pytest.raises(ValueError, match="group"):
        await client.enqueue(Task("t"), depends_on=[middle], group="g")
    other = await client.enqueue(Task("other"), queue="q2")
    with pytest.raises(TaskIDConflictError):
        await client.enqueue(Task("t"), queue="q2", task_id=middle.id, depends_on=[other])


def test_the_blocking_client_enqueues_dependants(redis_url: str) -> None:
    with Client.from_url(redis_url) as producer:
        first = producer.enqueue(Task("first"))
        waiting = producer.enqueue(Task("second"), depends_on=[first.id])
        infos = producer.enqueue_workflow(chain(Task("a"), Task("b")))
        with pytest.raises(UnknownDependencyError):
            producer.enqueue(Task("t"), depends_on=["missing"])
    conn = redis.Redis.from_url(redis_url)
    try:
        assert conn.zscore(keys.scheduled_key("default"), waiting.id) == WAITING_SCORE
        assert conn.zscore(keys.scheduled_key("default"), infos[1].id) == WAITING_SCORE
        assert conn.hget(keys.task_key("default", infos[0].id), "state") == b"pending"
    finally:
        conn.close()


async def test_chains_and_a_group_callback_with_its_members_results(
    client: AsyncClient, conn: AnyRedis, servers: list[Server]
) -> None:
    order: list[str] = []
    seen: list[Any] = []

    def handler(ctx: TaskContext, task: Task) -> None:  # sync: runs in the handler threads
        order.append(task.type)
        if task.type.startswith("member"):
            assert ctx.result_writer is not None
            ctx.result_writer.write_blocking(task.payload or b"")
        if task.type == "callback":
            seen.extend(ctx.dependency_results_blocking())

    await _start(servers, conn, handler, queues={"q1": 1, "q2": 1})
    steps = await client.enqueue_workflow(chain(*(Task(f"step{i}") for i in range(4))), queue="q1")
    members = [Task(f"member{i}", str(i).encode()) for i in range(3)]
    infos = await client.enqueue_workflow(group(members).then(Task("callback")), queue="q2")
    await wait_for(lambda: len(order) == 8, what="every task ran")
    assert [t for t in order if t.startswith("step")] == ["step0", "step1", "step2", "step3"]
    assert all(order.index(f"member{i}") < order.index("callback") for i in range(3))
    assert [(r.task_id, r.state, r.result) for r in seen] == [
        (info.id, "completed", str(i).encode()) for i, info in enumerate(infos[:3])
    ]
    assert steps[0].retention.total_seconds() == DEPENDENCY_RETENTION_SECONDS
    await asyncio.sleep(0.3)
    assert len(order) == 8
