"""`info.wait` latency (issue #21): from a task's completion to its waiter's return.

One `kasynq worker` process (concurrency 10) on a fresh standalone Redis; the bench process
enqueues one task at a time with `AsyncClient.enqueue(..., retention=60)` and awaits
`info.wait`. The handler sleeps 20 ms (so the waiter is listening before the outcome) and
writes `time.time()` as its result just before returning; the latency is the waiter's
`time.time()` on return minus that result (one clock). The issue's target: p50 <= 5 ms.
"""

from __future__ import annotations

import asyncio
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.processes import running
from bench.results import WAIT, Results
from bench.stats import percentile
from bench.systems import Command, _python_env
from bench.workloads import RunFailed, fresh_redis, run_guarded

WAIT_TASKS = 50
WAIT_TIMEOUT_SECONDS = 10.0
HANDLER_SLEEP_SECONDS = 0.02
HANDLERS = "bench.waiting_bench:handler"


async def handler(ctx: Any, task: Any) -> None:
    """Runs in the worker: completes after a short sleep, its result the completion time."""
    await asyncio.sleep(HANDLER_SLEEP_SECONDS)
    await ctx.result_writer.write(repr(time.time()).encode())


async def _measure(url: str, count: int) -> list[float]:
    from kasynq import AsyncClient, Task

    delays: list[float] = []
    async with AsyncClient.from_url(url) as client:
        for index in range(count + 1):  # the first one warms up the worker and connections
            info = await client.enqueue(Task("bench:wait"), retention=60)
            result = await info.wait(WAIT_TIMEOUT_SECONDS)
            woke = time.time()
            if result is None:
                raise RunFailed(f"task {info.id} completed without its result")
            if index:
                delays.append((woke - float(result)) * 1000)
    return delays


def wait_run(workdir: Path, count: int = WAIT_TASKS) -> dict[str, float]:
    """p50 and p95 (ms) of completion → `wait` return over `count` tasks."""
    with fresh_redis() as server:
        argv = [
            str(Path(sys.executable).with_name("kasynq")),
            "worker",
            "--redis-url",
            server.url,
            "--handlers",
            HANDLERS,
            "--concurrency",
            "10",
            "--log-level",
            "WARNING",
        ]
        with running([Command(argv, _python_env(server.url))], workdir / "wait.log"):
            delays = asyncio.run(_measure(server.url, count))
    return {"p50": percentile(delays, 0.50), "p95": percentile(delays, 0.95)}


def wait_round(results: Results, workdir: Path) -> None:
    """One run of the wait row."""
    row = results.row(WAIT, "kasynq", "AsyncClient, 1 worker process c10", concurrency=10)
    outcome = run_guarded("info.wait latency", partial(wait_run, workdir))
    row.add_run(outcome, ("p50", "p95"))
