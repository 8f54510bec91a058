"""The pipelined queue-metrics sampler against a real Redis, seeded with raw asynq writes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker.metrics import active_tasks_by_host, sample_queues

NOW_S = 1_800_000_000
NOW_NS = NOW_S * 1_000_000_000


class CountingConnection(redis.asyncio.Connection):
    """Counts writes to the socket: one per round trip (a pipeline is written at once)."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        await super().send_packed_command(command, check_health)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(redis_url, connection_class=CountingConnection)
    await conn.ping()
    yield conn
    await conn.aclose()


async def seed_queue(conn: redis.asyncio.Redis, queue: str, pending_ages: list[float]) -> None:
    """Pending tasks with the given ages (oldest last, as asynq's LPUSH leaves them)."""
    for index, age in enumerate(sorted(pending_ages, reverse=True)):
        task_id = f"{queue}-p{index}"
        await conn.hset(
            keys.task_key(queue, task_id),
            mapping={"state": "pending", "pending_since": int((NOW_S - age) * 1e9)},
        )
        await conn.lpush(keys.pending_key(queue), task_id)


async def test_one_round_trip_samples_every_queue(client: redis.asyncio.Redis) -> None:
    await seed_queue(client, "ns:a", [1.0, 5.0, 12.5])
    await client.lpush(keys.active_key("ns:a"), "x1", "x2")
    await client.zadd(keys.scheduled_key("ns:a"), {"s-soon": NOW_S + 10, "s-late": NOW_S + 3600})
    await client.zadd(keys.retry_key("ns:a"), {"r-due": NOW_S - 5})
    await client.zadd(keys.archived_key("ns:a"), {"dead": NOW_S})
    await client.zadd(keys.completed_key("ns:a"), {"done1": NOW_S + 60, "done2": NOW_S + 60})
    await client.set(keys.processed_total_key("ns:a"), 42)
    await client.set(keys.failed_total_key("ns:a"), 7)
    await client.sadd(keys.all_groups("ns:a"), "g1")
    await client.zadd(keys.group_key("ns:a", "g1"), {"agg1": NOW_S, "agg2": NOW_S})
    await client.set(keys.paused_key("ns:b"), NOW_S)
    queues = ["ns:a", "ns:b"] + [f"ns:q{i}" for i in range(20)]

    await sample_queues(client, ["ns:none"], 30)  # caches the script on the server
    CountingConnection.sends = 0
    sample = await sample_queues(client, queues, 30, wall_clock_ns=lambda: NOW_NS)
    assert CountingConnection.sends == 1, "one pipelined round trip for 22 queues"

    a, b = sample.queues[0], sample.queues[1]
    assert (a.pending, a.active, a.scheduled, a.retry, a.archived, a.completed) == (
        3,
        2,
        2,
        1,
        1,
        2,
    )
    assert (a.aggregating, a.due_soon, a.processed_total, a.failed_total) == (2, 2, 42, 7)
    assert a.latency_seconds == pytest.approx(12.5)
    assert not a.paused
    assert b.paused and b.pending == 0 and b.latency_seconds == 0.0
    assert all(q.pending == 0 for q in sample.queues[2:])


async def test_noscript_after_flush_costs_one_extra_round_trip(client: redis.asyncio.Redis) -> None:
    await sample_queues(client, ["ns:a"], 30)
    await client.script_flush()
    CountingConnection.sends = 0
    await sample_queues(client, ["ns:a", "ns:b"], 30)
    assert CountingConnection.sends == 2
    CountingConnection.sends = 0
    await sample_queues(client, ["ns:a", "ns:b"], 30)
    assert CountingConnection.sends == 1


async def test_latency_skips_a_requeued_tail_task(client: redis.asyncio.Redis) -> None:
    await seed_queue(client, "ns:a", [3.0, 8.0])
    await client.hset(keys.task_key("ns:a", "requeued"), mapping={"state": "pending"})
    await client.rpush(keys.pending_key("ns:a"), "requeued")
    sample = await sample_queues(client, ["ns:a"], 0, wall_clock_ns=lambda: NOW_NS)
    assert sample.queues[0].pending == 3
    assert sample.queues[0].latency_seconds == pytest.approx(8.0)


async def test_sample_time_is_monotonic(client: redis.asyncio.Redis) -> None:
    before = time.monotonic()
    sample = await sample_queues(client, ["ns:a"], 0)
    assert before <= sample.taken_at <= time.monotonic()


async def test_active_tasks_by_host_from_worker_records(client: redis.asyncio.Redis) -> None:
    live, expired = NOW_S + 10, NOW_S - 10
    records = {
        keys.workers_key("pool-abc-1", 1, "s1"): (live, 3),
        keys.workers_key("pool-abc-2", 1, "s2"): (live, 1),
        keys.workers_key("pool-abc-2", 7, "s3"): (live, 2),
        keys.workers_key("gone-pod", 1, "s4"): (expired, 5),
    }
    for key, (score, count) in records.items():
        await client.zadd(keys.ALL_WORKERS, {key: score})
        await client.hset(key, mapping={f"task{i}": b"info" for i in range(count)})
    by_host = await active_tasks_by_host(client, wall_clock_ns=lambda: NOW_NS)
    assert by_host == {"pool-abc-1": 3, "pool-abc-2": 3}
    assert await client.zcard(keys.ALL_WORKERS) == 4, "read-only: nothing pruned"


async def test_a_busy_count_wins_over_the_worker_record(client: redis.asyncio.Redis) -> None:
    """A kasynq server's busy count is rewritten at every change; its record is up to 5 s
    old. Without a busy count (a Go server, or none changed for 30 s) the record counts."""
    live = NOW_S + 10
    fresh = (keys.workers_key("pool-abc-1", 1, "s1"), 0, 2)
    finished = (keys.workers_key("pool-abc-2", 1, "s2"), 3, 0)
    go_server = (keys.workers_key("pool-abc-3", 1, "s3"), 1, None)
    for key, recorded, busy in (fresh, finished, go_server):
        await client.zadd(keys.ALL_WORKERS, {key: live})
        if recorded:
            await client.hset(key, mapping={f"task{i}": b"info" for i in range(recorded)})
        if busy is not None:
            host, pid, server_id = key.split("{")[1].rstrip("}").split(":")
            await client.set(keys.busy_key(host, pid, server_id), busy)
    by_host = await active_tasks_by_host(client, wall_clock_ns=lambda: NOW_NS)
    assert by_host == {"pool-abc-1": 2, "pool-abc-3": 1}


async def test_no_workers_means_no_hosts(client: redis.asyncio.Redis) -> None:
    assert await active_tasks_by_host(client) == {}


async def test_in_flight_counts_only_live_leases(client: redis.asyncio.Redis) -> None:
    """A dead server's tasks stay active until the recoverer runs; their leases expired."""
    await client.lpush(keys.active_key("ns:a"), "live1", "live2", "dead1")
    await client.zadd(
        keys.lease_key("ns:a"), {"live1": NOW_S + 20, "live2": NOW_S + 5, "dead1": NOW_S - 15}
    )
    sample = await sample_queues(client, ["ns:a"], 0, wall_clock_ns=lambda: NOW_NS)
    assert sample.queues[0].active == 3
    assert sample.queues[0].in_flight == 2
