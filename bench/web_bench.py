"""Web console render times (issue 20): 1,000 queues, one of them with 100,000 pending tasks.

The console (`devenv.webconsole`, the same app `kasynq web` serves) runs on a fresh Redis;
each page is fetched once to warm up, then `REQUESTS` times, timed from the request to the
last byte of the reply.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request

from kasynq.client import AsyncClient
from kasynq.task import Task

from bench.stats import percentile
from bench.workloads import RunFailed, fresh_redis
from devenv.webconsole import running_console

QUEUE_COUNT = 1_000
BIG_QUEUE = "bench-0"
TASK_COUNT = 100_000
BATCH = 2_000
REQUESTS = 20
PAGES = {
    "overview": "/",
    "task list, first page": f"/queue?name={BIG_QUEUE}&state=pending",
    "task list, last page": f"/queue?name={BIG_QUEUE}&state=pending&page={TASK_COUNT // 20}",
    "task detail": "/task?queue={queue}&id={task_id}",
}
TARGET_MS = 300.0


async def _fill(url: str) -> str:
    """One task in each queue but the big one, which gets TASK_COUNT; the big one's last ID."""
    async with AsyncClient.from_url(url) as client:
        for queue in range(1, QUEUE_COUNT):
            await client.enqueue(Task("bench", b"{}"), queue=f"bench-{queue}")
        last = None
        for start in range(0, TASK_COUNT, BATCH):
            tasks = [Task("bench", b'{"n": %d}' % n) for n in range(start, start + BATCH)]
            results = await client.enqueue_many(tasks, queue=BIG_QUEUE)
            last = results[-1]
        if last is None or isinstance(last, Exception):
            raise RunFailed(f"enqueue failed: {last}")
        return last.id


def _fetch(url: str) -> tuple[float, str]:
    """(milliseconds to the reply's last byte, its text)."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as reply:
        body = reply.read()
    return (time.perf_counter() - started) * 1000, body.decode()


def _check(name: str, page: str) -> None:
    """The page shows what was filled in, so the timing is of the real thing."""
    expected = {
        "overview": (page.count("<tr data-queue="), QUEUE_COUNT),
        "task list, first page": (f"({TASK_COUNT} pending)" in page, True),
    }.get(name)
    if expected is not None and expected[0] != expected[1]:
        raise RunFailed(f"{name}: the page does not show the filled queues: {expected}")


def web_console_run() -> dict[str, float]:
    """{"<page> p50": ms, "<page> p95": ms} for every page of PAGES."""
    measured: dict[str, float] = {}
    with fresh_redis() as server:
        task_id = asyncio.run(_fill(server.url))
        with running_console(server.url) as base:
            for name, path in PAGES.items():
                url = base + path.format(queue=BIG_QUEUE, task_id=task_id)
                _check(name, _fetch(url)[1])
                times = sorted(_fetch(url)[0] for _ in range(REQUESTS))
                measured[f"{name} p50"] = percentile(times, 0.5)
                measured[f"{name} p95"] = percentile(times, 0.95)
    return measured
