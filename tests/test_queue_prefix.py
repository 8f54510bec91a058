"""`queue_prefix`: an application outside Kubernetes uses the operator's `<tenant>:<queue>`
names (Client, AsyncClient, the Inspectors, the worker) without spelling them out."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest
import redis
import redis.asyncio
from kasynq import keys
from kasynq.client import AsyncClient, Client
from kasynq.inspector import AsyncInspector, Inspector
from kasynq.scheduler import Scheduler
from kasynq.task import Task

from tests.cli.test_cli_globals import run_kasynq, wait_processed, worker_processes

__all__ = ["worker_processes"]  # the fixture


def pending(redis_url: str, queue: str) -> int:
    with redis.Redis.from_url(redis_url) as conn:
        return int(conn.llen(keys.pending_key(queue)))


async def test_clients_put_queues_under_the_prefix(redis_url: str) -> None:
    with Client.from_url(redis_url, queue_prefix="acme") as producer:
        assert producer.enqueue(Task("t")).queue == "acme:default"
        producer.enqueue(Task("t"), queue="low")
        producer.enqueue_many([Task("t", queue="low")])
    async with AsyncClient.from_url(redis_url, queue_prefix="acme") as producer:
        await producer.enqueue(Task("t"), queue="low")
        await producer.enqueue_many([Task("t")])
    assert (pending(redis_url, "acme:default"), pending(redis_url, "acme:low")) == (2, 3)
    assert pending(redis_url, "default") == pending(redis_url, "low") == 0


async def test_inspectors_see_the_queues_under_the_prefix(redis_url: str) -> None:
    with Client.from_url(redis_url) as producer:
        producer.enqueue(Task("t"), queue="acme:default", task_id="a1")
        producer.enqueue(Task("t"), queue="other:default")
        producer.enqueue(Task("t"), queue="default")
    with Inspector.from_url(redis_url, queue_prefix="acme") as inspector:
        assert inspector.queues() == ["default"]
        assert inspector.get_queue_info("default").queue == "acme:default"
        assert [task.id for task in inspector.list_pending_tasks("default")] == ["a1"]
        assert [info.queue for info in inspector.get_queue_infos()] == ["acme:default"]
        inspector.pause_queue("default")
    async with AsyncInspector.from_url(redis_url, queue_prefix="acme") as inspector:
        assert (await inspector.get_task_info("default", "a1")).queue == "acme:default"
        assert (await inspector.get_queue_infos(["default"]))[0].paused
        assert await inspector.delete_all_pending_tasks(queue="default") == 1
    with Inspector.from_url(redis_url) as inspector:
        assert inspector.queues() == ["acme:default", "default", "other:default"]


def test_bad_prefix_names_the_field(redis_url: str) -> None:
    for bad in ("acme:", "{acme}", " acme"):
        with pytest.raises(ValueError, match="queue_prefix"):
            Client.from_url(redis_url, queue_prefix=bad)


def test_worker_serves_the_queues_under_its_prefix(
    redis_url: str, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    process = run_kasynq(
        worker_processes,
        *("--redis-url", redis_url, "worker", "--handlers", "tests.server_app:mux"),
        *("--queues", "default", "--queue-prefix", "acme"),
    )
    with Client.from_url(redis_url, queue_prefix="acme") as producer:
        producer.enqueue(Task("hold", b"0"))
    wait_processed(redis_url, "acme:default", process)


async def test_scheduler_fires_into_the_queues_under_the_prefix(redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    scheduler = Scheduler(client, group="pool", queue_prefix="acme")
    scheduler.register("@every 1s", Task("ping"))
    scheduler.apply_schedules([{"cron": "@every 1s", "type": "pong", "options": {"queue": "low"}}])
    runner = asyncio.create_task(scheduler.run())
    try:
        deadline = time.monotonic() + 5
        while not (await client.llen(keys.pending_key("acme:low"))) or not (
            await client.llen(keys.pending_key("acme:default"))
        ):
            assert time.monotonic() < deadline, "no tick under the prefix"
            await asyncio.sleep(0.05)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await client.aclose()
