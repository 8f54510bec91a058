"""What every system's no-op task does, and the producer command line they share.

The no-op handler records, in one non-transactional pipeline on the queue's own Redis:
`INCR bench:done` (completions), `SETBIT bench:seen <index> 1` (distinct tasks, so lost and
duplicated tasks can be told apart), `SETNX bench:first` / `SET bench:last` (completion times)
and `RPUSH bench:latency` (start minus enqueue time, seconds). Times are Unix seconds from
`time.time()`, one clock for producer and worker on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

URL_ENV = "BENCH_REDIS_URL"
DONE_KEY = "bench:done"
SEEN_KEY = "bench:seen"
FIRST_KEY = "bench:first"
LAST_KEY = "bench:last"
LATENCY_KEY = "bench:latency"
BATCH_SIZE = 1000

Item = tuple[int, float]


def redis_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        raise SystemExit(f"{URL_ENV} is not set: the bench harness passes the Redis URL in it")
    return url


def queue_pipeline(pipe: Any, index: int, enqueued_at: float, started_at: float) -> None:
    """Queue the accounting commands on a redis-py pipeline (sync or asyncio)."""
    pipe.incr(DONE_KEY)
    pipe.setbit(SEEN_KEY, index, 1)
    pipe.setnx(FIRST_KEY, repr(started_at))
    pipe.set(LAST_KEY, repr(time.time()))
    pipe.rpush(LATENCY_KEY, repr(started_at - enqueued_at))


def record(conn: Any, index: int, enqueued_at: float) -> None:
    """Account one task from a blocking handler."""
    started_at = time.time()
    pipe = conn.pipeline(transaction=False)
    queue_pipeline(pipe, index, enqueued_at, started_at)
    pipe.execute()


async def record_async(conn: Any, index: int, enqueued_at: float) -> None:
    """Account one task from an asyncio handler."""
    started_at = time.time()
    pipe = conn.pipeline(transaction=False)
    queue_pipeline(pipe, index, enqueued_at, started_at)
    await pipe.execute()


def chunks(items: Sequence[Item], size: int = BATCH_SIZE) -> Iterable[Sequence[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="bench producer: enqueue no-op tasks")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--start", type=int, default=0, help="index of the first task")
    parser.add_argument("--batch", action="store_true", help="use the batch API")
    parser.add_argument("--rate", type=float, default=0.0, help="tasks per second; 0: flat out")
    return parser.parse_args(argv)


def _report(seconds: float, pending: int) -> None:
    json.dump({"seconds": seconds, "pending": pending}, sys.stdout)
    sys.stdout.write("\n")


def producer_main(
    enqueue_one: Callable[[int, float], None],
    enqueue_batch: Callable[[Sequence[Item]], None] | None,
    pending: Callable[[], int],
) -> None:
    """`producer_main_async` for blocking clients (a coroutine wrapper costs about 1 µs)."""

    async def one(index: int, enqueued_at: float) -> None:
        enqueue_one(index, enqueued_at)

    async def batch(items: Sequence[Item]) -> None:
        assert enqueue_batch is not None
        enqueue_batch(items)

    async def count() -> int:
        return pending()

    asyncio.run(producer_main_async(one, batch if enqueue_batch else None, count))


async def producer_main_async(
    enqueue_one: Callable[[int, float], Awaitable[None]],
    enqueue_batch: Callable[[Sequence[Item]], Awaitable[None]] | None,
    pending: Callable[[], Awaitable[int]],
) -> None:
    """Enqueue `--count` tasks, then print JSON: elapsed seconds and the pending count.

    Single calls take the enqueue time just before each call and, with `--rate`, are paced
    against a fixed schedule so a slow call does not shift the ones after it.
    """
    args = _parse(sys.argv[1:])
    began = time.perf_counter()
    if args.batch:
        if enqueue_batch is None:
            raise SystemExit("this system has no batch enqueue API")
        now = time.time()
        items = [(args.start + offset, now) for offset in range(args.count)]
        for chunk in chunks(items):
            await enqueue_batch(chunk)
    else:
        origin = time.monotonic()
        for offset in range(args.count):
            if args.rate > 0:
                delay = origin + offset / args.rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await enqueue_one(args.start + offset, time.time())
    _report(time.perf_counter() - began, await pending())
