"""Priority lanes: `priority=` routes to lane queues, `lanes=True` drains them in order (§15)."""

from __future__ import annotations

from typing import Any

import pytest
from kasynq import AsyncClient, ScheduleError, keys
from kasynq.client import moment, prepare
from kasynq.context import TaskContext
from kasynq.scheduler import make_entry
from kasynq.server import Server
from kasynq.task import Task, options

from tests.server_helpers import start_server, wait_for

NOW = moment(1_700_000_000 * 10**9)


def test_priority_picks_the_lane_queue() -> None:
    def queue_of(prefix: str = "", **opts: object) -> str:
        return prepare(Task("t"), options(**opts), NOW, prefix).write.msg.queue

    assert queue_of(priority="high") == "default.high"
    assert queue_of(queue="mail", priority="low") == "mail.low"
    assert queue_of(queue="mail", priority="default") == "mail"
    assert queue_of("acme", queue="mail", priority="high") == "acme:mail.high"
    with pytest.raises(ValueError, match="priority='urgent'"):
        options(priority="urgent")
    with pytest.raises(ValueError, match=r"queue='mail\.high'"):
        queue_of(queue="mail.high", priority="low")
    with pytest.raises(ScheduleError, match="priority"):
        make_entry("group", "@every 1s", Task("t"), priority="high")


async def test_a_worker_drains_high_then_default_then_low(
    async_redis_any: Any, servers: list[Server]
) -> None:
    async_redis = async_redis_any
    ran: list[str] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        ran.append(task.type)

    client = AsyncClient(async_redis)
    for level in ("low", "default", "high"):  # the lowest first: arrival order cannot explain it
        await client.enqueue_many([Task(level) for _ in range(20)], queue="mail", priority=level)
    other = await client.enqueue(Task("other"), queue="other")
    await start_server(
        servers, async_redis, handler, concurrency=1, queues={"mail": 1, "other": 1}, lanes=True
    )
    await wait_for(lambda: len(ran) == 61, what="61 tasks")
    mail = [kind for kind in ran if kind != "other"]
    assert mail == ["high"] * 20 + ["default"] * 20 + ["low"] * 20
    assert other.queue == "other"
    assert set(await async_redis.smembers(keys.ALL_QUEUES)) == {  # Go's Inspector lists them
        b"mail.high",
        b"mail",
        b"mail.low",
        b"other",
    }
