"""What every system's no-op task does, and the producer command line they share.

The no-op handler only notes, in memory, the task's index, its start time and its pickup
latency (start minus enqueue time); a daemon thread of the worker process flushes those notes
to the queue's own Redis every `FLUSH_SECONDS` in one non-transactional pipeline:
`SADD bench:seen <index>...` (distinct tasks, so lost and duplicated tasks can be told
apart), `ZADD bench:edges LT first` / `GT last` (earliest start and latest completion over
all processes), `RPUSH bench:latency` and, last, `INCRBY bench:done` (completions). A
handler that made its own Redis round trip per task would measure the Redis client library
of the handler's language as much as the task queue, so the Redis work is batched here, the
same way for every system (Go's twin: tests/interop/cmd/goasynq/bench_accounting.go). Times
are Unix seconds from `time.time()`, one clock for producer and worker on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

import redis

URL_ENV = "BENCH_REDIS_URL"
DONE_KEY = "bench:done"
SEEN_KEY = "bench:seen"
"""A set of task indices: its size against `DONE_KEY` tells lost from duplicated tasks."""
EDGES_KEY = "bench:edges"
FIRST_MEMBER = "first"
LAST_MEMBER = "last"
LATENCY_KEY = "bench:latency"
CALLBACK_KEY = "bench:callback"
"""Hash the fan-in callback writes once it ran: `at` (its end, Unix s), `results` (how many
member results it was handed), `runs` (HINCRBY: how often it ran)."""
BATCH_SIZE = 1000
FLUSH_SECONDS = 0.05

Item = tuple[int, float]
Note = tuple[int, float, float, float]
"""index, start time, pickup latency, completion time."""


def redis_url() -> str:
    url = os.environ.get(URL_ENV)
    if not url:
        raise SystemExit(f"{URL_ENV} is not set: the bench harness passes the Redis URL in it")
    return url


class Recorder:
    """The per-process accounting: `record` from any thread, flushed by a daemon thread."""

    def __init__(self) -> None:
        self._notes: collections.deque[Note] = collections.deque()
        self._flusher: threading.Thread | None = None
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget_parent)

    def record(self, index: int, enqueued_at: float) -> None:
        """Account one task; called by the no-op handler, never blocks on Redis."""
        started_at = time.time()
        self._notes.append((index, started_at, started_at - enqueued_at, time.time()))
        if self._flusher is None:
            self._start_flusher()

    def _forget_parent(self) -> None:
        self._notes = collections.deque()
        self._flusher = None
        self._lock = threading.Lock()

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, daemon=True)
                self._flusher.start()

    def _flush_forever(self) -> None:
        conn = redis.Redis.from_url(redis_url())
        while True:
            time.sleep(FLUSH_SECONDS)
            self._flush(conn)

    def _flush(self, conn: redis.Redis) -> None:
        notes: list[Note] = []
        while self._notes:
            notes.append(self._notes.popleft())
        if not notes:
            return
        pipe = conn.pipeline(transaction=False)
        pipe.sadd(SEEN_KEY, *(note[0] for note in notes))
        pipe.zadd(EDGES_KEY, {FIRST_MEMBER: min(note[1] for note in notes)}, lt=True)
        pipe.zadd(EDGES_KEY, {LAST_MEMBER: max(note[3] for note in notes)}, gt=True)
        pipe.rpush(LATENCY_KEY, *(repr(note[2]) for note in notes))
        pipe.incrby(DONE_KEY, len(notes))  # last: a reader that sees the count sees the rest
        pipe.execute()


record = Recorder().record


def record_callback(results: int) -> None:
    """The fan-in callback's accounting: when it ended and how many results it was given."""
    with redis.Redis.from_url(redis_url()) as conn:
        pipe = conn.pipeline(transaction=False)
        pipe.hset(CALLBACK_KEY, mapping={"at": repr(time.time()), "results": results})
        pipe.hincrby(CALLBACK_KEY, "runs", 1)
        pipe.execute()


def fan_out_main(produce: Callable[[int, float], Awaitable[None]]) -> None:
    """The fan-out/fan-in producer: `produce(count, started)` enqueues `--count` members and
    the callback; prints JSON with `started` (Unix s, taken just before) and `seconds`."""
    args = _parse(sys.argv[2:])
    started = time.time()
    began = time.perf_counter()
    asyncio.run(produce(args.count, started))
    json.dump({"started": started, "seconds": time.perf_counter() - began}, sys.stdout)
    sys.stdout.write("\n")


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
