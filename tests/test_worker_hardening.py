"""Worker hardening: misbehaving handlers, liveness without Redis, bounded metrics, signals."""

from __future__ import annotations

import asyncio
import functools
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request

import pytest
import redis.asyncio
from kasynq.broker import Broker
from kasynq.context import TaskContext
from kasynq.httpserver import HTTPServer, Probes
from kasynq.server import Server
from kasynq.task import Task
from kasynq_operator.resources import configmap_manifest, deployment_manifest, resolve_pool

from devenv.redis_servers import RedisServer
from tests.operator.test_resources import QUEUES, pool_spec
from tests.server_helpers import FAST, enqueue, queue_sizes, task_state, wait_for
from tests.test_server_process import spawn_worker
from tests.test_server_process import worker_processes as worker_processes  # the fixture


@pytest.fixture
def client(async_redis: redis.asyncio.Redis) -> redis.asyncio.Redis:
    return async_redis


def _get(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        url = f"http://{host}:{port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_a_redis_outage_fails_readiness_only_and_the_rendered_liveness_probe_is_healthz(
    redis_factory: type[RedisServer],
) -> None:
    spec = pool_spec()
    resolution = resolve_pool("team-a", spec, QUEUES)
    configmap = configmap_manifest("mail", "team-a", spec, resolution)
    deployment = deployment_manifest("mail", "team-a", spec, resolution, configmap)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert (liveness["httpGet"]["path"], readiness["httpGet"]["path"]) == ("/healthz", "/readyz")

    redis_process = redis_factory(persistent=True).start()
    client = redis.asyncio.Redis.from_url(redis_process.url)
    server = Server(client, http_host="127.0.0.1", http_port=0, **FAST)
    await server.start(lambda ctx, task: None)
    try:
        assert server.http is not None
        port = server.http.port
        probe = functools.partial(_get, "127.0.0.1", port, timeout=liveness["timeoutSeconds"])
        assert await asyncio.to_thread(probe, "/readyz") == (200, "ready\n")
        await asyncio.to_thread(redis_process.stop)
        # Many probe periods' worth of liveness probes, back to back: every one passes.
        for _ in range(liveness["failureThreshold"] * 3):
            assert await asyncio.to_thread(probe, "/healthz") == (200, "ok\n")
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(probe, "/readyz") == (503, "redis down\n")
        await asyncio.to_thread(redis_process.start)

        async def ready() -> bool:
            return await asyncio.to_thread(probe, "/readyz") == (200, "ready\n")

        await wait_for(ready, within=15, what="ready again once Redis is back")
    finally:
        await server.shutdown()
        await client.aclose()


async def test_metrics_render_off_the_event_loop() -> None:
    """/healthz answers while a scrape is still rendering (the renderer blocks here)."""
    rendering, release = threading.Event(), threading.Event()

    def slow_metrics() -> bytes:
        rendering.set()
        release.wait(10)
        return b"# rendered\n"

    async def reachable() -> bool:
        return True

    http = HTTPServer(Probes(reachable, lambda: True, slow_metrics), 0, "127.0.0.1")
    await http.start()
    try:
        scrape = asyncio.ensure_future(asyncio.to_thread(_get, "127.0.0.1", http.port, "/metrics"))
        assert await asyncio.to_thread(rendering.wait, 5)
        health = await asyncio.to_thread(_get, "127.0.0.1", http.port, "/healthz", 2.0)
        answered_during_scrape = not release.is_set()
        release.set()
        assert health == (200, "ok\n")
        assert answered_during_scrape
        assert await scrape == (200, "# rendered\n")
    finally:
        release.set()
        await http.stop()


async def test_task_type_label_is_capped(client: redis.asyncio.Redis) -> None:
    seen: list[str] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(task.type)

    server = Server(client, http_host="127.0.0.1", http_port=0, metrics_max_task_types=3, **FAST)
    await server.start(handler)
    try:
        assert server.http is not None
        for index in range(6):
            await enqueue(Broker(client), task_type=f"report:{index}")
            # One at a time, so that the first three types are the labelled ones.
            await wait_for(functools.partial(lambda count: len(seen) == count, index + 1))
        status, metrics = await asyncio.to_thread(_get, "127.0.0.1", server.http.port, "/metrics")
    finally:
        await server.shutdown()
    assert status == 200
    processed = [
        line for line in metrics.splitlines() if line.startswith("kasynq_tasks_processed_total{")
    ]
    assert sorted(processed) == [
        'kasynq_tasks_processed_total{queue="default",task_type="other"} 3.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:0"} 1.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:1"} 1.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:2"} 1.0',
    ]
    assert 'kasynq_handler_duration_seconds_count{task_type="other"} 3.0' in metrics
    with pytest.raises(ValueError, match="metrics_max_task_types must be >= 1, got 0"):
        Server(client, metrics_max_task_types=0)
