"""The leader-elected scheduler in one process, on a real Redis: locks, fencing, ticks, config."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio
from kasynq import keys
from kasynq.broker.core import Broker, TaskWrite
from kasynq.broker.scheduling import Created, FireStatus, LeaderLock, TickStore
from kasynq.client import prepare
from kasynq.config import resolve
from kasynq.connection import cluster_redis
from kasynq.leader import Role
from kasynq.scheduler import ScheduleError, Scheduler, make_entry, timing_settings
from kasynq.task import Task, options

from devenv import goasynq
from devenv.redis_servers import RedisCluster, RedisServer


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    conn = redis.asyncio.Redis.from_url(redis_url)
    yield conn
    await conn.aclose()


async def eventually(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


@contextlib.asynccontextmanager
async def running(scheduler: Scheduler) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(scheduler.run())
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def tick_write(task_id: str, queue: str = "default") -> TaskWrite:
    task = Task("tick", b"{}")
    return prepare(task, options(task_id=task_id, queue=queue), datetime.now(UTC)).write


async def pending_ids(client: redis.asyncio.Redis, queue: str = "default") -> list[str]:
    return sorted(item.decode() for item in await client.lrange(keys.pending_key(queue), 0, -1))


# -- lock and tick scripts ------------------------------------------------------------------


async def test_lock_is_exclusive_renewed_by_owner_only_and_tokens_increase(
    client: redis.asyncio.Redis,
) -> None:
    first, second = LeaderLock(client, "g", "one"), LeaderLock(client, "g", "two")
    assert await first.acquire(5000) == 1
    assert await second.acquire(5000) == 0
    assert await second.renew(5000) is False
    assert await first.renew(5000) is True
    assert await second.release() is False
    assert await first.release() is True
    assert await second.acquire(5000) == 2
    assert 0 < await client.pttl(keys.scheduler_leader_key("g")) <= 5000


async def test_tick_fires_once_and_old_tokens_are_fenced_off(
    client: redis.asyncio.Redis,
) -> None:
    ticks = TickStore(Broker(client), "g")
    fired = await ticks.fire(2, "entry", 100, tick_write("cron:g:entry:100"))
    assert fired.status is FireStatus.FIRED and fired.created is Created.CREATED
    again = await ticks.fire(2, "entry", 100, tick_write("cron:g:entry:100"))
    assert again.status is FireStatus.ALREADY_FIRED
    older_tick = await ticks.fire(2, "entry", 99, tick_write("cron:g:entry:99"))
    assert older_tick.status is FireStatus.ALREADY_FIRED
    deposed = await ticks.fire(1, "entry", 101, tick_write("cron:g:entry:101"))
    assert deposed.status is FireStatus.FENCED
    assert await ticks.raise_fence("default", 3) == 3
    assert await ticks.raise_fence("default", 2) == 3
    assert await ticks.last_tick("default", "entry") == 100
    assert await pending_ids(client) == ["cron:g:entry:100"]
    assert await client.sismember(keys.ALL_QUEUES, "default")


async def test_fire_uses_the_routing_of_the_task_options(client: redis.asyncio.Redis) -> None:
    ticks = TickStore(Broker(client), "g")
    now = datetime.now(UTC)
    task = Task("tick", b"{}")
    scheduled = prepare(task, options(task_id="a", process_in=60), now).write
    grouped = prepare(task, options(task_id="b", group="batch"), now).write
    unique = prepare(task, options(task_id="c", unique=60), now).write
    assert (await ticks.fire(1, "e1", 1, scheduled)).enqueued
    assert (await ticks.fire(1, "e2", 1, grouped)).enqueued
    assert (await ticks.fire(1, "e3", 1, unique)).enqueued
    held = await ticks.fire(1, "e3", 2, prepare(task, options(task_id="d", unique=60), now).write)
    assert held.status is FireStatus.FIRED and held.created is Created.UNIQUE_LOCK_HELD
    assert await client.zscore(keys.scheduled_key("default"), "a") is not None
    assert await client.zscore(keys.group_key("default", "batch"), "b") is not None
    assert await pending_ids(client) == ["c"]


# -- entries --------------------------------------------------------------------------------


def test_entry_ids_are_stable_and_options_print_as_go() -> None:
    task = Task("report", b'{"a":1}')
    deadline = datetime(2026, 2, 3, 10, tzinfo=UTC)
    entry = make_entry(
        "pool", "@hourly", task, None, queue="critical", timeout=1800, deadline=deadline
    )
    again = make_entry(
        "pool", "@hourly", task, None, queue="critical", timeout=1800, deadline=deadline
    )
    assert entry.id == again.id
    assert make_entry("other", "@hourly", task).id != entry.id
    assert entry.enqueue_options == (
        'Queue("critical")',
        "Timeout(30m0s)",
        "Deadline(Tue Feb  3 10:00:00 UTC 2026)",
    )
    assert entry.queue == "critical"
    every = make_entry("pool", "@every 90s", task, None, unique=timedelta(hours=1), max_retry=2)
    assert every.enqueue_options == ("Unique(1h0m0s)", "MaxRetry(2)")


@pytest.mark.parametrize(
    ("spec", "opts", "message"),
    [
        ("61 * * * *", {}, "schedule entry 'bad': cron: invalid cron spec '61 * * * *'"),
        ("@daily", {"colour": "red"}, "schedule entry 'bad': options: unknown task option"),
        ("@daily", {"task_id": "x"}, "schedule entry 'bad': task_id: not allowed"),
        ("@daily", {"max_retry": "x"}, "schedule entry 'bad': options: max_retry must be an int"),
    ],
)
def test_bad_registration_names_entry_and_field(
    spec: str, opts: dict[str, object], message: str
) -> None:
    with pytest.raises(ScheduleError, match="^" + message.replace("*", r"\*").replace("(", r"\(")):
        make_entry("pool", spec, Task("t"), "bad", **opts)  # type: ignore[arg-type]


# -- the scheduler ----------------------------------------------------------------------------


async def test_leader_fires_every_tick_once_and_go_sees_entries_and_history(
    client: redis.asyncio.Redis,
) -> None:
    scheduler = Scheduler(client, group="pool", lock_ttl=2, heartbeat_interval=1)
    entry_id = scheduler.register("@every 1s", Task("ping", b"{}"), queue="cron", max_retry=3)
    async with running(scheduler):
        await eventually(
            lambda: _count_at_least(client, "cron", 3), 6, "three ticks of an @every 1s entry"
        )
        status = scheduler.status
    assert status.role is Role.LEADER and status.fencing_token == 1
    ids = await pending_ids(client, "cron")
    ticks = [int(task_id.rsplit(":", 1)[1]) for task_id in ids]
    assert ids == [f"cron:pool:{entry_id}:{tick}" for tick in ticks]
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))
    assert status.ticks_fired >= len(ids) - 1
    history = await client.zcard(keys.scheduler_history_key(entry_id))
    assert history == len(ids)
    # Shutdown released the lock and removed the published entries, but kept history.
    assert not await client.exists(keys.scheduler_leader_key("pool"))
    assert not await client.zcard(keys.ALL_SCHEDULERS)


async def _count_at_least(client: redis.asyncio.Redis, queue: str, count: int) -> bool:
    return int(await client.llen(keys.pending_key(queue))) >= count


@pytest.mark.requires_go
async def test_go_inspector_lists_entries_and_history(
    client: redis.asyncio.Redis, go: goasynq.GoAsynq
) -> None:
    scheduler = Scheduler(client, group="pool", lock_ttl=2, heartbeat_interval=1)
    entry_id = scheduler.register(
        "@every 1s", Task("ping", b"hi"), queue="cron", timeout=90, unique=timedelta(seconds=1)
    )
    scheduler.register("CRON_TZ=Asia/Tokyo 0 9 * * 1-5", Task("report"), max_retry=2)
    scheduler.register(
        "@yearly",
        Task("yearly"),
        deadline=datetime(2030, 2, 3, 10, tzinfo=UTC),
        process_in=timedelta(minutes=90),
        retention=timedelta(days=1),
        group="batch",
    )
    async with running(scheduler):
        await eventually(lambda: _count_at_least(client, "cron", 2), 6, "two ticks")
        entries = await asyncio.to_thread(go.inspect, "scheduler-entries")
        history = await asyncio.to_thread(go.inspect, "scheduler-history", entry_id)
    by_id = {entry["id"]: entry for entry in entries}
    every = by_id[entry_id]
    assert every["spec"] == "@every 1s" and every["type"] == "ping"
    assert goasynq.b64decode(every["payload"]) == b"hi"
    assert every["options"] == ['Queue("cron")', "Timeout(1m30s)", "Unique(1s)"]
    assert every["prev"] is not None and every["next"] > every["prev"]
    report = next(entry for entry in entries if entry["type"] == "report")
    assert report["options"] == ["MaxRetry(2)"]
    assert report["prev"] is None  # never fired: Go's zero time
    yearly = next(entry for entry in entries if entry["type"] == "yearly")
    assert yearly["options"] == [  # Go parsed and printed them back; it drops Group
        "Deadline(Sun Feb  3 10:00:00 UTC 2030)",
        "ProcessIn(1h30m0s)",
        "Retention(24h0m0s)",
    ]
    assert len(history) >= 2
    assert history[0]["task_id"].startswith(f"cron:pool:{entry_id}:")
    assert history[0]["enqueued_at"] >= history[1]["enqueued_at"]


async def test_bad_entries_are_reported_and_the_others_keep_running(
    client: redis.asyncio.Redis,
) -> None:
    scheduler = Scheduler(client, group="pool", lock_ttl=2)
    errors = scheduler.apply_schedules(
        [
            {"name": "fails", "cron": "@every 1s", "type": "f", "options": {"queue": "broken"}},
            {"name": "broken-cron", "cron": "*/0 * * * *", "type": "a"},
            {"name": "odd-option", "cron": "@every 1s", "type": "b", "options": {"colour": 1}},
            {"name": "odd-field", "cron": "@every 1s", "type": "c", "queue": "x"},
            {"name": "bad-base64", "cron": "@every 1s", "type": "d", "payload_base64": "%%"},
            {"name": "good", "cron": "@every 1s", "type": "e", "payload": {"n": 1}},
            {"name": "twin", "cron": "@every 1s", "type": "e", "payload": {"n": 1}},
        ]
    )
    await client.set(keys.pending_key("broken"), "not a list")  # every enqueue fails there
    assert [error.split(":")[0] for error in errors] == [
        "schedule entry 'broken-cron'",
        "schedule entry 'odd-option'",
        "schedule entry 'odd-field'",
        "schedule entry 'bad-base64'",
        "schedule entry 'twin'",
    ]
    assert "cron: invalid cron spec '*/0 * * * *'" in errors[0]
    assert "options: unknown task option(s): colour" in errors[1]
    assert "unknown field(s): queue" in errors[2]
    assert "payload_base64: not base64" in errors[3]
    assert "same schedule, task and options as entry 'good'" in errors[4]
    async with running(scheduler):
        await eventually(lambda: _count_at_least(client, "default", 3), 6, "the good entry")
    (task_id, *_) = await pending_ids(client)
    message = await client.hget(keys.task_key("default", task_id), "msg")
    assert message is not None and b'{"n":1}' in message


async def test_schedules_file_is_reloaded_when_it_changes(
    client: redis.asyncio.Redis, tmp_path: Path
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        "schedules:\n  - {name: a, cron: '@every 1s', type: a, payload_base64: aGk=}\n"
    )
    scheduler = Scheduler(client, group="pool")
    watcher = asyncio.create_task(scheduler.watch_file(config, interval=0.05))
    try:
        await eventually(lambda: _entry_types(scheduler, ["a"]), 3, "entry a loaded")
        (first,) = scheduler.entries
        assert first.task.payload == b"hi"
        config.write_text(
            "schedules:\n"
            "  - {name: a, cron: '@every 1s', type: a, payload_base64: aGk=}\n"
            "  - {name: b, cron: '0 3 * * *', type: b, options: {queue: q, timeout: 1m30s}}\n"
        )
        await eventually(lambda: _entry_types(scheduler, ["a", "b"]), 3, "entry b added")
        assert scheduler.entries[0].id == first.id  # unchanged entries keep their IDs
        config.write_text("schedules: [{name: b, cron: '@every 1s', broken")  # not YAML
        await asyncio.sleep(0.2)
        assert await _entry_types(scheduler, ["a", "b"])  # a broken file changes nothing
        config.write_text("schedules: []\n")
        await eventually(lambda: _entry_types(scheduler, []), 3, "entries removed")
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


async def _entry_types(scheduler: Scheduler, types: list[str]) -> bool:
    return sorted(entry.task.type for entry in scheduler.entries) == types


async def test_recovers_by_itself_after_a_redis_restart(
    redis_factory: type[RedisServer],
) -> None:
    server = redis_factory().start()
    client = redis.asyncio.Redis.from_url(server.url, socket_timeout=1)
    scheduler = Scheduler(client, group="pool", lock_ttl=2, misfire_grace=0)
    scheduler.register("@every 1s", Task("ping"))
    try:
        async with running(scheduler):
            await eventually(lambda: _count_at_least(client, "default", 1), 5, "a first tick")
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(2.5)
            assert scheduler.status.role is Role.STANDBY  # could not renew within the TTL
            await asyncio.to_thread(server.start)  # empty: the restart lost every key
            await eventually(lambda: _count_at_least(client, "default", 2), 8, "ticks again")
            assert scheduler.status.role is Role.LEADER
    finally:
        await client.aclose()


async def test_runs_on_redis_cluster(redis_cluster: RedisCluster) -> None:
    client = cluster_redis(redis_cluster.startup_nodes)
    scheduler = Scheduler(client, group="pool", lock_ttl=2)
    scheduler.register("@every 1s", Task("ping"), queue="cluster-q", unique=timedelta(hours=1))
    scheduler.register("@every 1s", Task("pong"), queue="other-q")
    try:
        async with running(scheduler):
            await eventually(lambda: _count_at_least(client, "other-q", 2), 6, "ticks on Cluster")
        assert await client.llen(keys.pending_key("cluster-q")) == 1  # the unique lock held
        assert scheduler.status.duplicates_suppressed == 0
        assert await client.smembers(keys.ALL_QUEUES) == {b"cluster-q", b"other-q"}
    finally:
        await client.aclose()


async def test_default_grace_fires_the_ticks_a_failover_missed(
    client: redis.asyncio.Redis,
) -> None:
    """A leader died 4 s ago (its last tick is recorded): the default grace covers twice the
    takeover time (2 x 2.5 s), so the new leader fires the 1 s entry's missed ticks late."""
    scheduler = Scheduler(client, group="pool")
    entry_id = scheduler.register("@every 1s", Task("ping"))
    last = int(time.time()) - 4
    await client.hset(keys.scheduler_ticks_key("default", "pool"), f"tick:{entry_id}", last)
    async with running(scheduler):
        await eventually(lambda: _count_at_least(client, "default", 4), 5, "the missed ticks")
    fired = [int(task_id.rsplit(":", 1)[1]) for task_id in await pending_ids(client)]
    assert fired[:4] == [last + 1, last + 2, last + 3, last + 4]
    assert scheduler.status.ticks_skipped == 0


def test_timing_settings_of_the_worker_config(tmp_path: Path) -> None:
    """The worker YAML's `scheduler:` block sets the timings; bad ones name the key."""
    config = tmp_path / "worker.yaml"
    config.write_text(
        "handlers: tests.server_app:mux\n"
        "scheduler: {misfire_grace: 1m30s, lock_ttl: 4, lock_retry_interval: 0.25}\n"
    )
    settings = resolve(config, {})
    timings = timing_settings(settings.scheduler)
    assert timings == {"misfire_grace": 90.0, "lock_ttl": 4.0, "lock_retry_interval": 0.25}
    scheduler = Scheduler.from_url("redis://127.0.0.1:1/0", **timings)
    assert scheduler.elector.ttl == 4.0 and scheduler.elector.takeover_seconds == 4.25
    for block, named in [
        ({"lock_ttl": "soon"}, "scheduler.lock_ttl"),
        ({"grace": 1}, "grace"),
        ({"misfire_grace": -1}, "scheduler.misfire_grace"),
    ]:
        with pytest.raises(ScheduleError, match=named):
            timing_settings(block)
