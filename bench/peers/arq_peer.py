"""arq, polling its queue every 10 ms. Worker: `arq bench.peers.arq_peer.WorkerSettings`.

arq's default `poll_delay` of 0.5 s caps one worker at about 200 tasks/s and puts its idle
pickup near 260 ms (shared/research/peer-bench.md); 10 ms is the tuned setting.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

from arq import create_pool
from arq.connections import RedisSettings

from bench.peers.common import producer_main_async, record, redis_url

MAX_JOBS_ENV = "BENCH_CONCURRENCY"


async def noop(ctx: dict[str, Any], index: int, enqueued_at: float) -> None:
    record(index, enqueued_at)


class WorkerSettings:
    functions: ClassVar[list[Any]] = [noop]
    redis_settings = RedisSettings.from_dsn(redis_url())
    max_jobs = int(os.environ.get(MAX_JOBS_ENV, "10"))
    poll_delay = 0.01


async def produce() -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url()))

    async def enqueue_one(index: int, enqueued_at: float) -> None:
        await pool.enqueue_job("noop", index, enqueued_at)

    async def pending() -> int:
        return int(await pool.zcard("arq:queue"))

    await producer_main_async(enqueue_one, None, pending)


if __name__ == "__main__":
    asyncio.run(produce())
