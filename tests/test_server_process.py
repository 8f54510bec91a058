"""Worker processes: kill -9 recovery, SIGTERM requeue, bad handler paths, Redis restarts, HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker import Broker
from kasynq.context import TaskContext
from kasynq.server import Server
from kasynq.task import Task

from devenv.redis_servers import RedisServer
from tests.server_helpers import FAST, enqueue, queue_sizes, task_state, wait_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(async_redis: redis.asyncio.Redis) -> redis.asyncio.Redis:
    return async_redis


@pytest.fixture
def worker_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """`kasynq worker` processes started by a test; killed at the end whatever happens."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def spawn_worker(
    processes: list[subprocess.Popen[bytes]], redis_url: str, *args: str
) -> subprocess.Popen[bytes]:
    # the caller's PYTHONPATH stays in front of the editable install (a worktree's code wins)
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "KASYNQ_REDIS_URL": redis_url}
    process = subprocess.Popen(
        [sys.executable, "-c", "from kasynq.cli import main; main()", "worker", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    processes.append(process)
    return process


async def sigterm_once_active(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
    active: int,
) -> int:
    """Start a worker (shutdown timeout 0.5 s), SIGTERM it once `active` tasks run; exit code."""
    process = spawn_worker(
        worker_processes,
        redis_url,
        "--handlers",
        "tests.server_app:mux",
        "--shutdown-timeout",
        "0.5",
    )

    async def all_active() -> bool:
        return (await queue_sizes(client))["active"] == active

    await wait_for(all_active, within=20, what=f"{active} active tasks")
    process.send_signal(signal.SIGTERM)
    return await asyncio.to_thread(process.wait, 15)


async def counting_server(client: Any, counts: Counter[str], **options: Any) -> Server:
    async def handler(ctx: TaskContext, task: Task) -> None:
        counts[ctx.task_id] += 1

    server = Server(client, **{**FAST, **options})
    await server.start(handler)
    return server


async def test_kill_9_worker_tasks_are_recovered_by_another(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    broker = Broker(client)
    messages = await enqueue(broker, 100, task_type="hold")
    process = spawn_worker(
        worker_processes, redis_url, "--handlers", "tests.server_app:mux", "--concurrency", "100"
    )

    async def all_leased() -> bool:
        return (await queue_sizes(client))["lease"] == 100

    await wait_for(all_leased, within=20, what="the worker to lease 100 tasks")
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    # The lease (30 s) runs out: simulated by moving every lease score into the past.
    lease = keys.lease_key("default")
    expired = {member: time.time() - 1 for member in await client.zrange(lease, 0, -1)}
    await client.zadd(lease, expired, xx=True)
    counts: Counter[str] = Counter()
    server = await counting_server(client, counts, concurrency=20)
    try:
        await wait_for(lambda: len(counts) == 100, within=20, what="100 recovered tasks")
    finally:
        await server.shutdown()
    assert counts == Counter({msg.id: 1 for msg in messages})
    sizes = await queue_sizes(client)
    assert sizes["active"] == sizes["lease"] == sizes["retry"] == sizes["archived"] == 0


async def test_sigterm_pushes_back_unfinished_tasks_for_another_worker(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    broker = Broker(client)
    messages = await enqueue(broker, 5, task_type="hold")
    assert await sigterm_once_active(client, redis_url, worker_processes, active=5) == 0
    sizes = await queue_sizes(client)
    assert (sizes["pending"], sizes["active"], sizes["lease"]) == (5, 0, 0)
    state = await task_state(client, "default", messages[0].id)
    assert (state["state"], state["msg"].retried) == ("pending", 0)
    assert await client.zcard(keys.ALL_SERVERS) == 0
    counts: Counter[str] = Counter()
    server = await counting_server(client, counts)
    try:
        await wait_for(lambda: len(counts) == 5, what="requeued tasks completed")
    finally:
        await server.shutdown()
    assert counts == Counter({msg.id: 1 for msg in messages})


async def test_sigterm_does_not_wait_for_a_sync_handler_ignoring_cancellation(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    [msg] = await enqueue(Broker(client), task_type="stubborn")
    assert await sigterm_once_active(client, redis_url, worker_processes, active=1) == 0
    state = await task_state(client, "default", msg.id)
    assert state["state"] == "pending"


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        ("tests.no_such_module:mux", "cannot import handlers module 'tests.no_such_module'"),
        ("tests.server_app:missing", "has no attribute 'missing'"),
        ("tests.server_app:not_a_handler", "is not callable"),
        ("tests.server_app", "must look like package.module:attribute"),
    ],
)
def test_bad_handlers_path_fails_at_start(
    handlers: str, message: str, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    process = spawn_worker(worker_processes, "redis://127.0.0.1:1/0", "--handlers", handlers)
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert message in output.decode()


async def test_redis_restart_mid_run_loses_nothing(
    redis_factory: type[RedisServer],
) -> None:
    server_process = redis_factory(persistent=True).start()
    client = redis.asyncio.Redis.from_url(server_process.url)
    broker = Broker(client)
    messages = await enqueue(broker, 400)
    counts: Counter[str] = Counter()

    async def handler(ctx: TaskContext, task: Task) -> None:
        await asyncio.sleep(0.02)
        counts[ctx.task_id] += 1

    server = Server(client, concurrency=10, **FAST)
    await server.start(handler)
    try:
        await wait_for(lambda: len(counts) > 50, what="processing under way")
        await asyncio.to_thread(server_process.restart)

        async def settled() -> bool:
            sizes = await queue_sizes(client)
            return sizes["pending"] == sizes["retry"] == 0 and len(counts) + sizes["active"] >= len(
                messages
            )

        await wait_for(settled, within=30, what="all tasks processed or leased")
        # Tasks whose dequeue reply was lost in the restart sit leased until the lease expires.
        lease = keys.lease_key("default")
        leased = await client.zrange(lease, 0, -1)
        if leased:
            await client.zadd(lease, dict.fromkeys(leased, time.time() - 1), xx=True)
        await wait_for(lambda: len(counts) == 400, within=20, what="every task processed")
    finally:
        await server.shutdown()
        await client.aclose()
    assert set(counts) == {msg.id for msg in messages}


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_http_endpoints(client: redis.asyncio.Redis) -> None:
    broker = Broker(client)
    counts: Counter[str] = Counter()
    server = await counting_server(client, counts, http_host="127.0.0.1", http_port=0)
    try:
        assert server.http is not None
        port = server.http.port
        await enqueue(broker, 2, task_type="metered")
        await wait_for(lambda: len(counts) == 2)
        assert await asyncio.to_thread(_get, port, "/healthz") == (200, "ok\n")
        assert await asyncio.to_thread(_get, port, "/readyz") == (200, "ready\n")
        status, metrics = await asyncio.to_thread(_get, port, "/metrics")
        assert status == 200
        assert 'kasynq_tasks_processed_total{queue="default",task_type="metered"} 2.0' in metrics
        assert "kasynq_handler_duration_seconds_bucket" in metrics
        assert "kasynq_tasks_in_flight 0.0" in metrics
        assert 'kasynq_pickup_delay_seconds_count{queue="default"} 2.0' in metrics
        await server.stop()
        assert (await asyncio.to_thread(_get, port, "/readyz"))[0] == 503
        assert (await asyncio.to_thread(_get, port, "/nope"))[0] == 404
    finally:
        await server.shutdown()
