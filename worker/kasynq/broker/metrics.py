"""Queue metrics for the autoscaler: every queue of a pool in one pipelined round trip.

Each queue is read by one read-only script (`lua/metrics_queue.lua`); all scripts of a poll
go out in one pipeline, so a poll costs one round trip on a standalone or Sentinel Redis
(one per node on a Cluster). Per-host active task counts (for pod deletion costs) are read
only when the operator is about to scale in: a kasynq server's busy count
(`kasynq:busy:{host:pid:serverID}`, written whenever it changes), else asynq's worker record
`asynq:workers:{host:pid:serverID}` (Go servers; rewritten every 5 s by the heartbeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kasynq import keys
from kasynq.broker.scripts import load_script, run_pipelined
from kasynq.connection import AsyncRedis

NS_PER_SECOND = 1_000_000_000
PENDING_TAIL_SCAN = 3
"""Tail tasks looked at for `pending_since` (requeued tasks at the tail have none)."""


@dataclass(frozen=True)
class QueueMetrics:
    """One queue as sampled from Redis in one poll."""

    name: str
    pending: int = 0
    active: int = 0
    scheduled: int = 0
    retry: int = 0
    archived: int = 0
    completed: int = 0
    aggregating: int = 0
    due_soon: int = 0
    latency_seconds: float = 0.0
    processed_total: int = 0
    failed_total: int = 0
    paused: bool = False
    in_flight: int | None = None
    """Active tasks whose lease has not expired (None when not sampled): a dead server's
    tasks stay active until the recoverer moves them, but are no longer in flight."""


@dataclass(frozen=True)
class PoolMetrics:
    """All queues of a pool, sampled at `taken_at` (seconds, monotonic clock of the sampler)."""

    taken_at: float
    queues: tuple[QueueMetrics, ...]


def _as_int(value: object) -> int:
    if isinstance(value, bytes | str):
        return int(value)
    if isinstance(value, int):
        return value
    raise TypeError(f"unexpected metrics value {value!r}")


def _queue_metrics(name: str, row: Sequence[object], now_ns: int) -> QueueMetrics:
    (pending, active, scheduled, retry, archived, completed, processed, failed, paused) = (
        _as_int(value) for value in row[:9]
    )
    due_scheduled, due_retry, aggregating, pending_since, leased = (
        _as_int(value) for value in row[9:14]
    )
    latency = max(0.0, (now_ns - pending_since) / NS_PER_SECOND) if pending_since else 0.0
    return QueueMetrics(
        name=name,
        pending=pending,
        active=active,
        scheduled=scheduled,
        retry=retry,
        archived=archived,
        completed=completed,
        aggregating=aggregating,
        due_soon=due_scheduled + due_retry,
        latency_seconds=latency,
        processed_total=processed,
        failed_total=failed,
        paused=bool(paused),
        in_flight=min(active, leased),
    )


async def sample_queues(
    client: AsyncRedis,
    queues: Sequence[str],
    due_soon_lookahead_seconds: float,
    *,
    wall_clock_ns: Callable[[], int] = time.time_ns,
    monotonic: Callable[[], float] = time.monotonic,
) -> PoolMetrics:
    """Sample `queues` (Redis names) in one pipeline; Redis errors propagate."""
    script = load_script("metrics_queue")
    horizon = (wall_clock_ns() // NS_PER_SECOND) + int(due_soon_lookahead_seconds)
    calls = [
        script.call(
            [
                keys.pending_key(queue),
                keys.active_key(queue),
                keys.scheduled_key(queue),
                keys.retry_key(queue),
                keys.archived_key(queue),
                keys.completed_key(queue),
                keys.processed_total_key(queue),
                keys.failed_total_key(queue),
                keys.paused_key(queue),
                keys.all_groups(queue),
                keys.lease_key(queue),
            ],
            [
                keys.task_key_prefix(queue),
                keys.group_key_prefix(queue),
                horizon,
                PENDING_TAIL_SCAN,
                wall_clock_ns() // NS_PER_SECOND,
            ],
        )
        for queue in queues
    ]
    rows = await run_pipelined(client, calls)
    for row in rows:
        if isinstance(row, Exception):
            raise row
    now_ns = wall_clock_ns()
    return PoolMetrics(
        taken_at=monotonic(),
        queues=tuple(
            _queue_metrics(queue, row, now_ns) for queue, row in zip(queues, rows, strict=True)
        ),
    )


def _server_of_workers_key(key: str) -> tuple[str, str, str]:
    """`asynq:workers:{host:pid:serverID}` -> (host, pid, serverID); a host may hold ':'."""
    inner = key.removeprefix(keys.ALL_WORKERS + ":{").removesuffix("}")
    host, pid, server_id = inner.rsplit(":", 2)
    return host, pid, server_id


async def active_tasks_by_host(
    client: AsyncRedis, *, wall_clock_ns: Callable[[], int] = time.time_ns
) -> dict[str, int]:
    """In-flight tasks per host of the live servers; idle hosts are absent.

    A server's busy count (`keys.busy_key`) is current at the time of reading; the worker
    record is up to 5 s old (a task picked up since reads idle) and only used where no busy
    count exists: Go servers, and kasynq servers whose count did not change for
    `BUSY_TTL_SECONDS`, which their records then repeat. Read-only: expired index members are
    skipped, not pruned (that is the Inspector's job).
    """
    now_s = wall_clock_ns() // NS_PER_SECOND
    members = await client.zrangebyscore(keys.ALL_WORKERS, now_s, "+inf")
    worker_keys = [m.decode() if isinstance(m, bytes) else str(m) for m in members]
    if not worker_keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in worker_keys:
        pipe.get(keys.busy_key(*_server_of_workers_key(key)))
        pipe.hlen(key)
    replies = await pipe.execute()
    by_host: dict[str, int] = {}
    for index, key in enumerate(worker_keys):
        busy, recorded = replies[2 * index], replies[2 * index + 1]
        host = _server_of_workers_key(key)[0]
        by_host[host] = by_host.get(host, 0) + _as_int(recorded if busy is None else busy)
    return {host: count for host, count in by_host.items() if count}
