"""1,000 chains of 5 complete exactly once, in order, while worker processes are killed with
SIGKILL mid-run (wire-protocol.md §13.6: a settle cut short is finished by a releaser)."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.client import AsyncClient, PreparedTask
from kasynq.context import TaskContext
from kasynq.dependencies import Node
from kasynq.server import Server
from kasynq.task import Task
from kasynq.workflow import Chain, chain

from tests.server_app import chain_step
from tests.server_helpers import FAST, queue_sizes, wait_for
from tests.test_server_process import spawn_worker, worker_processes

__all__ = ["worker_processes"]  # the fixture

CHAINS, STEPS = 1000, 5


class Chains:
    """Many chains enqueued as one workflow: three pipelined round trips for all of them."""

    def __init__(self, chains: list[Chain]) -> None:
        self.chains = chains

    def nodes(self, prepare: Callable[[Task], PreparedTask]) -> list[Node]:
        return [node for each in self.chains for node in each.nodes(prepare)]


async def _successes(client: redis.asyncio.Redis) -> int:
    """Successful runs: processed minus failed (each recovered kill counts as a failure)."""
    processed = int(await client.get(keys.processed_total_key("default")) or 0)
    return processed - int(await client.get(keys.failed_total_key("default")) or 0)


async def _kill_all(client: redis.asyncio.Redis, workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    # The lease (30 s) runs out: simulated by moving every lease score into the past.
    lease = keys.lease_key("default")
    expired = {member: time.time() - 1 for member in await client.zrange(lease, 0, -1)}
    if expired:
        await client.zadd(lease, expired, xx=True)


@pytest.mark.timeout(120)
async def test_chains_complete_exactly_once_under_kill_9(
    async_redis: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    client = async_redis
    chains = [chain(*(Task("chain:step") for _ in range(STEPS))) for _ in range(CHAINS)]
    async with AsyncClient(client) as producer:
        infos = await producer.enqueue_workflow(Chains(chains))
    total = CHAINS * STEPS
    assert len(infos) == total
    args = ("--handlers", "tests.server_app:mux", "--concurrency", "20", "--log-level", "ERROR")
    for goal in (total // 4, total // 2):
        workers = [spawn_worker(worker_processes, redis_url, *args) for _ in range(3)]
        await wait_for(
            lambda g=goal: _done_at_least(client, g), within=60, what=f"{goal} completed"
        )
        await _kill_all(client, workers)
    server = Server(client, **{**FAST, "concurrency": 50, "dependency_check_interval": 0.1})

    async def step(ctx: TaskContext, task: Task) -> None:
        await chain_step(ctx, task)

    await server.start(step)
    try:
        await wait_for(lambda: _done_at_least(client, total), within=60, what="all done")
        await wait_for(lambda: _no_dependants_left(client), within=10, what="releases done")
    finally:
        await server.shutdown()
    assert await _successes(client) == total  # one success per task; kills add failures
    assert int(await client.get(keys.failed_total_key("default")) or 0) > 0  # kills hit tasks
    sizes = await queue_sizes(client)
    # every step but the last is kept (a dependency's retention); the last ones are deleted
    assert sizes == {**dict.fromkeys(sizes, 0), "completed": total - CHAINS}
    last_steps = [info.id for info in infos[STEPS - 1 :: STEPS]]
    assert not any([await client.exists(keys.task_key("default", i)) for i in last_steps])


async def _done_at_least(client: redis.asyncio.Redis, count: int) -> bool:
    return await _successes(client) >= count


async def _no_dependants_left(client: redis.asyncio.Redis) -> bool:
    return await client.zcard(keys.depended_key("default")) == 0
