"""Issue 21, runtime half, against Go asynq: waiting (§14) and held-back tasks (§16)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis.asyncio
from kasynq import TaskFailedError
from kasynq.broker import Broker
from kasynq.broker import ratelimit as rate_broker
from kasynq.task import Task
from redis.asyncio.cluster import ClusterNode, RedisCluster

from devenv.goasynq import b64encode
from devenv.processes import wait_until
from tests.interop.conftest import Target
from tests.interop.servers import behaviour

pytestmark = pytest.mark.requires_go


def test_wait_sees_what_a_go_worker_did(target: Target) -> None:
    """Go publishes nothing on completion: the waiter hears the task hash change itself."""
    target.go.start_server(concurrency=4, queues={"default": 1}, log_level="error")
    done = target.client.enqueue(
        Task("go:ok", behaviour(sleep_ms=50, result=b64encode(b"from go"))), retention=60
    )
    failing = target.client.enqueue(
        Task("go:bad", behaviour(sleep_ms=50, fail_times=-1, error="no luck", skip_retry=True)),
        retention=60,
    )
    vanishing = target.client.enqueue(Task("go:plain", behaviour(sleep_ms=50)))
    assert done.wait(10) == b"from go"
    with pytest.raises(TaskFailedError, match="no luck"):
        failing.wait(10)
    assert vanishing.wait(10) is None


def test_a_held_back_task_is_an_ordinary_scheduled_task_to_go(target: Target) -> None:
    """A task a kasynq server held back for its rate (§16) reads and runs as Go's own."""
    info = target.client.enqueue(Task("go:held", behaviour(result=b64encode(b"ran"))), retention=60)
    asyncio.run(hold_back_the_next_task(target))
    (scheduled,) = target.go.inspect("list", "default", "scheduled")
    assert (scheduled["id"], scheduled["retried"], scheduled["last_err"]) == (info.id, 0, "")
    target.go.start_server(
        concurrency=2, queues={"default": 1}, delayed_task_check_interval=0.2, log_level="error"
    )
    assert info.wait(10) == b"ran"


async def hold_back_the_next_task(target: Target) -> None:
    """Dequeue the next task of `default` as a kasynq server would, then hold it back 1 s."""
    client: Any = (
        redis.asyncio.Redis.from_url(target.redis_url)
        if target.redis_url
        else RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.cluster_nodes or []]
        )
    )
    try:
        broker = Broker(client)
        dequeued = await broker.dequeue("default")
        assert dequeued is not None
        await rate_broker.delay(broker, dequeued[0], int(time.time()) + 1)
    finally:
        await client.aclose()


def test_a_go_worker_configured_alike_drains_the_lanes_in_order(target: Target) -> None:
    """Go knows no lanes: strict priority over the three lane queues does the same (§15)."""
    for level in ("low", "default", "high"):
        results = target.client.enqueue_many(
            [Task(level, behaviour()) for _ in range(10)], queue="mail", priority=level
        )
        assert not [result for result in results if isinstance(result, Exception)]
    assert sorted(target.go.inspect("queues")) == ["mail", "mail.high", "mail.low"]
    for lane in ("mail", "mail.high", "mail.low"):
        assert target.go.inspect("queue-info", lane)["pending"] == 10
    target.go.start_server(
        concurrency=1,
        queues={"mail.high": 3, "mail": 2, "mail.low": 1},
        strict=True,
        record_list="done",
        log_level="error",
    )
    wait_until(lambda: target.redis.llen("done") == 30, timeout=10, what="30 tasks")
    ran = [json.loads(raw)["type"] for raw in target.redis.lrange("done", 0, -1)]
    assert ran == ["high"] * 10 + ["default"] * 10 + ["low"] * 10
