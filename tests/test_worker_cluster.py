"""The worker on Redis Cluster: `--cluster`, `cluster: true`, `?cluster=true`, idle wake-ups,
and a `kasynq worker` process draining tasks Go asynq enqueued on the 3-master cluster."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio.cluster
from kasynq.broker import Broker
from kasynq.broker.metrics import active_tasks_by_host, sample_queues
from kasynq.config import resolve
from kasynq.connection import redis_from_url
from kasynq.context import TaskContext
from kasynq.inspector import Inspector
from kasynq.server import Server
from kasynq.task import Task
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import SecretRef

from devenv.goasynq import GoAsynq, task_spec
from devenv.redis_servers import RedisCluster
from tests.server_helpers import FAST, enqueue, wait_for
from tests.test_server_process import spawn_worker, worker_processes

__all__ = ["worker_processes"]  # the fixture, shared with the worker process tests

QUEUES = ("critical", "default", "low")  # three queues, on different masters


def test_the_cluster_setting_and_url_form_make_a_cluster_client() -> None:
    url = "redis://:pw@127.0.0.1:7000/0"
    settings = resolve(None, {"handlers": "m:mux", "redis_url": url, "cluster": True})
    assert settings.redis_options() == {"cluster": True}
    client = redis_from_url(url, **settings.redis_options())
    assert isinstance(client, redis.asyncio.cluster.RedisCluster)
    from_url = redis_from_url("redis://127.0.0.1:7000/0?cluster=true&socket_timeout=2")
    assert isinstance(from_url, redis.asyncio.cluster.RedisCluster)
    assert isinstance(redis_from_url("redis://127.0.0.1:7000/0?cluster=false"), redis.asyncio.Redis)
    with pytest.raises(ValueError, match=r"cluster in the Redis URL must be true or false"):
        redis_from_url("redis://127.0.0.1:7000/0?cluster=maybe")
    with pytest.raises(ValueError, match=r"needs a redis:// or rediss:// URL.*:\*\*\*@"):
        redis_from_url("unix://:pw@/tmp/redis.sock", cluster=True)


async def test_an_idle_server_on_cluster_picks_up_new_work_quickly(
    async_redis_cluster: redis.asyncio.cluster.RedisCluster,
) -> None:
    broker = Broker(async_redis_cluster)
    picked: list[float] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        picked.append(time.monotonic())

    options: dict[str, Any] = {**FAST, "task_check_interval": 1.0}
    server = Server(async_redis_cluster, queues=dict.fromkeys(QUEUES, 1), **options)
    await server.start(handler)
    try:
        await asyncio.sleep(0.5)
        delays = []
        for index in range(6):
            sent = time.monotonic()
            await enqueue(broker, queue=QUEUES[index % len(QUEUES)])
            await wait_for(lambda: len(picked) > len(delays), within=3)
            delays.append(picked[-1] - sent)
            await asyncio.sleep(0.05)
        assert sorted(delays)[3] < 0.1, delays  # polling alone: about half the interval
    finally:
        await server.shutdown()


@pytest.mark.requires_go
@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["flag", "config", "url"])
def test_a_worker_process_drains_go_tasks_on_the_cluster(
    go_asynq: Path,
    redis_cluster: RedisCluster,
    worker_processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    how: str,
) -> None:
    nodes = redis_cluster.startup_nodes
    host, port = nodes[0]
    url = f"redis://{host}:{port}/0"
    args = ["--handlers", "tests.server_app:mux", "--queues", ",".join(QUEUES)]
    if how == "flag":
        args.append("--cluster")
    elif how == "config":
        config = tmp_path / "worker.yaml"
        config.write_text("cluster: true\n")
        args += ["--config", str(config)]
    else:
        url += "?cluster=true"
    with GoAsynq.cluster(go_asynq, nodes) as go:
        specs = [task_spec("hold", b"0", queue=QUEUES[i % len(QUEUES)]) for i in range(60)]
        go.enqueue_many(specs)
    process = spawn_worker(worker_processes, url, *args)
    with Inspector.from_cluster(nodes) as inspector:

        def drained() -> bool:
            infos = [inspector.get_queue_info(queue) for queue in QUEUES]
            return sum(info.processed for info in infos) == 60 and all(
                info.pending == info.active == 0 for info in infos
            )

        deadline = time.monotonic() + 60
        while not drained():
            assert process.poll() is None, process.communicate()[0].decode()
            assert time.monotonic() < deadline, "the worker did not drain Go's 60 tasks"
            time.sleep(0.1)
        servers = inspector.servers()
        assert [server.pid for server in servers] == [process.pid]  # the heartbeat works
    process.terminate()
    output, _ = process.communicate(timeout=30)
    text = output.decode()
    assert "MovedError" not in text and "Traceback" not in text, text


async def test_an_operator_secret_with_a_cluster_url_samples_the_cluster(
    redis_cluster: RedisCluster, async_redis_cluster: redis.asyncio.cluster.RedisCluster
) -> None:
    host, port = redis_cluster.startup_nodes[0]
    data = {"url": f"redis://{host}:{port}/0?cluster=true".encode()}
    client = RedisClients._connect("tenant", SecretRef(name="tenant-redis"), data)
    assert isinstance(client, redis.asyncio.cluster.RedisCluster)
    broker = Broker(async_redis_cluster)
    for queue in QUEUES:
        await enqueue(broker, 2, queue=queue)
    release = asyncio.Event()

    async def handler(ctx: TaskContext, task: Task) -> None:
        await release.wait()

    server = Server(async_redis_cluster, concurrency=3, queues=dict.fromkeys(QUEUES, 1), **FAST)
    await server.start(handler)
    try:
        processor = server.processor
        assert processor is not None
        await wait_for(lambda: len(processor.workers) == 3, what="three tasks running")
        sample = await sample_queues(client, list(QUEUES), 30)
        assert sum(queue.pending for queue in sample.queues) == 3
        assert sum(queue.active for queue in sample.queues) == 3
        await wait_for(
            lambda: _busy(client, server.identity.host), what="the server's workers record"
        )
    finally:
        release.set()
        await server.shutdown()
        await client.aclose()


async def _busy(client: redis.asyncio.cluster.RedisCluster, host: str) -> bool:
    return (await active_tasks_by_host(client)).get(host) == 3
