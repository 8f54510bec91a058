"""Rate limits per ServeMux registration, enforced in Redis across servers (§16)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import redis.asyncio
from kasynq import AsyncClient, keys
from kasynq.context import TaskContext
from kasynq.ratelimit import Rate, parse_rate
from kasynq.servemux import ServeMux
from kasynq.server import Server
from kasynq.task import Task

from tests.server_helpers import start_server, task_state, wait_for
from tests.test_server_process import spawn_worker, worker_processes  # noqa: F401 - fixture


def test_rates_are_parsed_and_bad_ones_refused() -> None:
    assert parse_rate("100/s") == Rate(100, 1)
    assert parse_rate("5/m").interval_us == 12_000_000
    assert parse_rate("7200/h").interval_us == 500_000
    mux = ServeMux()
    for bad in ("0/s", "100", "100/d", " 1/s", "1.5/s", "-1/s"):
        with pytest.raises(ValueError, match=f"rate={bad!r}"):
            mux.handle("t", lambda ctx, task: None, rate=bad)
    mux.handle("email:", lambda ctx, task: None, rate="2/s")
    mux.handle("email:bulk", lambda ctx, task: None)
    assert mux.rate_for("email:welcome") == ("email:", Rate(2, 1))
    assert mux.rate_for("email:bulk") is None
    assert mux.rate_for("other") is None


async def test_a_limited_task_is_delayed_not_failed(
    async_redis_any: Any, servers: list[Server]
) -> None:
    """On Cluster the rate key and the queue live in different slots: two scripts."""
    async_redis = async_redis_any
    started: list[str] = []
    mux = ServeMux()

    @mux.handler("slow:", rate="8/s")
    async def handler(ctx: TaskContext, task: Task) -> None:
        started.append(ctx.task_id)

    infos = [
        await AsyncClient(async_redis).enqueue(Task("slow:one"), retention=60, max_retry=0)
        for _ in range(12)
    ]
    await start_server(servers, async_redis, mux, concurrency=10)

    async def some_held_back() -> bool:
        return bool(await async_redis.zcard(keys.scheduled_key("default")))

    await wait_for(some_held_back, what="a task held back")
    held = [await task_state(async_redis, "default", info.id) for info in infos]
    delayed = [state for state in held if state.get("state") == "scheduled"]
    assert delayed and all(
        state["msg"].retried == 0 and not state["msg"].error_msg for state in delayed
    )
    await wait_for(lambda: len(started) == 12, within=10, what="all 12 tasks run")
    assert sorted(started) == sorted(info.id for info in infos)

    async def all_processed() -> bool:  # counted once the handler's outcome is written
        return int(await async_redis.get(keys.processed_total_key("default")) or 0) == 12

    await wait_for(all_processed, within=5, what="12 tasks counted as processed")
    assert not await async_redis.get(keys.failed_total_key("default"))
    for info in infos:
        assert (await task_state(async_redis, "default", info.id))["msg"].retried == 0


async def test_a_rate_holds_across_three_worker_processes(
    async_redis: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],  # noqa: F811 - the fixture
) -> None:
    count = 300
    infos = await AsyncClient(async_redis).enqueue_many(
        [Task("limited") for _ in range(count)], retention=60
    )
    ids = [info.id for info in infos if not isinstance(info, Exception)]
    for _ in range(3):
        spawn_worker(
            worker_processes, redis_url, "--handlers", "tests.server_app:mux", "--concurrency", "10"
        )

    async def all_done() -> bool:
        return int(await async_redis.zcard(keys.completed_key("default"))) == count

    await wait_for(all_done, within=30, what=f"{count} limited tasks")
    starts = sorted(
        [float(await async_redis.hget(keys.task_key("default", id_), "result")) for id_ in ids]
    )
    rate = (count - 1) / (starts[-1] - starts[0])
    assert abs(rate - 100) <= 5, f"{rate:.1f} starts/s"
    window = max(sum(1 for t in starts if s <= t < s + 1) for s in starts)
    assert window <= 105, f"{window} starts in one second"
