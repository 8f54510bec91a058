"""Operator benchmarks that need no Kubernetes: Redis round trips per poll of the sampler.

The autoscaler reads a pool's queues with `kasynq.broker.metrics.sample_queues`; this counts
the requests that call writes to Redis (a pipeline is one write followed by its replies) and,
from the server's INFO commandstats, the scripts it ran, for pools of 1, 50 and 200 queues.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio

from bench.workloads import RunFailed, fresh_redis
from devenv.roundtrips import counting_client

POOL_SIZES = (1, 50, 200)
POLLS = 5
LOOKAHEAD_SECONDS = 30.0


async def _evalsha_calls(client: redis.asyncio.Redis) -> int:
    stats: dict[str, Any] = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def _measure(url: str, queue_count: int) -> dict[str, float]:
    from kasynq.broker.metrics import sample_queues

    client, count = counting_client(url)
    observer = redis.asyncio.Redis.from_url(url)
    queues = [f"bench-{index}" for index in range(queue_count)]
    try:
        await sample_queues(client, queues, LOOKAHEAD_SECONDS)  # connects and loads scripts
        scripts_before, count.writes = await _evalsha_calls(observer), 0
        for _ in range(POLLS):
            await sample_queues(client, queues, LOOKAHEAD_SECONDS)
        scripts = await _evalsha_calls(observer) - scripts_before
        writes = count.writes
    finally:
        await client.aclose()
        await observer.aclose()
    if scripts != queue_count * POLLS:
        raise RunFailed(f"expected {queue_count * POLLS} queue scripts, Redis ran {scripts}")
    return {"round_trips_per_poll": writes / POLLS, "per_queue": writes / POLLS / queue_count}


def round_trips_run(queue_count: int) -> dict[str, float]:
    with fresh_redis() as server:
        return asyncio.run(_measure(server.url, queue_count))
