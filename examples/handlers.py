"""Example task handlers for `kasynq worker --handlers handlers:mux` (on PYTHONPATH).

`demo:work` sleeps for the payload's `ms` (a stand-in for real work) and, when the payload names
a `record` hash, counts its execution there (HINCRBY record n 1), so the demo can check that
every task ran exactly once. `report:daily` is the target of the example pool's cron schedule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os

import redis.asyncio as aioredis
from kasynq import ServeMux, Task, TaskContext

log = logging.getLogger(__name__)
mux = ServeMux()
_recorder: aioredis.Redis | None = None


def _recorder_client() -> aioredis.Redis:
    """One Redis connection pool per worker process, to the worker's own Redis."""
    global _recorder
    if _recorder is None:
        _recorder = aioredis.from_url(os.environ["KASYNQ_REDIS_URL"])
    return _recorder


async def work(ctx: TaskContext, task: Task) -> None:
    """Simulated work: sleep `ms` milliseconds, then record the run of task number `n`."""
    del ctx
    job = json.loads(task.payload or b"{}")
    await asyncio.sleep(float(job.get("ms", 50)) / 1000)
    if "record" in job:
        await _recorder_client().hincrby(job["record"], str(job["n"]), 1)


async def daily_report(ctx: TaskContext, task: Task) -> None:
    """What the example cron schedule enqueues: just log it."""
    del ctx
    log.info("daily report payload=%s", (task.payload or b"").decode(errors="replace"))


mux.handle("demo:work", work)
mux.handle("report:daily", daily_report)
