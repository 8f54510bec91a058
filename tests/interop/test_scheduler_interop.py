"""Checklist F52-F53 (issue 5): Go's Inspector lists kasynq's scheduler entries and their
enqueue history, and kasynq's Inspector lists a Go Scheduler's the same way Go does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest
import redis.asyncio
from kasynq.inspector import Inspector
from kasynq.scheduler import Scheduler
from kasynq.task import Task

from devenv.goasynq import GoAsynq, b64decode, task_spec
from devenv.processes import wait_until
from tests.interop.compare import plain

pytestmark = pytest.mark.requires_go


async def go_inspect(go: GoAsynq, *args: Any, **flags: Any) -> Any:
    return await asyncio.to_thread(go.inspect, *args, **flags)


async def wait_async(condition: Any, what: str) -> None:
    await asyncio.to_thread(wait_until, condition, what, 20.0)


@pytest.mark.timeout(60)
async def test_go_inspector_lists_our_entries_and_history(go: GoAsynq, redis_url: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    scheduler = Scheduler(client, group="interop", heartbeat_interval=1, lock_ttl=3)
    ticking = scheduler.register(
        "@every 1s", Task("tick", b"\x00tick"), queue="cron", max_retry=2, timeout=30, retention=60
    )
    idle = scheduler.register("0 9 * * 1-5", Task("report"), unique=3600)
    runner = asyncio.create_task(scheduler.run())
    try:
        await wait_async(
            lambda: len(go.inspect("scheduler-history", ticking)) >= 3, "three recorded fires"
        )
        entries = {e["id"]: e for e in await go_inspect(go, "scheduler-entries")}
        assert set(entries) == {ticking, idle}
        tick = entries[ticking]
        assert (tick["spec"], tick["type"], b64decode(tick["payload"])) == (
            "@every 1s",
            "tick",
            b"\x00tick",
        )
        assert tick["options"] == [
            'Queue("cron")',
            "MaxRetry(2)",
            "Timeout(30s)",
            "Retention(1m0s)",
        ]
        assert tick["prev"] is not None and abs(tick["prev"] - time.time()) < 5
        assert tick["next"] > tick["prev"]
        assert entries[idle]["prev"] is None  # Go's zero time for "never fired"
        assert entries[idle]["options"] == ["Unique(1h0m0s)"]
        history = await go_inspect(go, "scheduler-history", ticking)
        times = [event["enqueued_at"] for event in history]
        assert times == sorted(times, reverse=True)  # newest first
        for event in history:
            info = await go_inspect(go, "task-info", "cron", event["task_id"])
            assert (info["type"], info["max_retry"], info["timeout"]) == ("tick", 2, 30)
        with Inspector.from_url(redis_url) as inspector:
            ours = inspector.list_scheduler_enqueue_events(ticking)
        assert [e.task_id for e in ours][: len(history)] == [e["task_id"] for e in history]
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await client.aclose()
    assert await go_inspect(go, "scheduler-entries") == []  # cleared on graceful shutdown
    # Deliberate divergence (kasynq.scheduler docstring): entry IDs are stable across
    # replicas and restarts, so our history outlives a shutdown; Go clears its own.
    assert len(await go_inspect(go, "scheduler-history", ticking)) >= 3


@pytest.mark.timeout(60)
def test_our_inspector_lists_go_scheduler_entries(go: GoAsynq, redis_url: str) -> None:
    scheduler = go.start_scheduler(
        [
            {"spec": "@every 1s", **task_spec("tick", b"\xfftick", queue="cron", max_retry=2)},
            {"spec": "CRON_TZ=Asia/Tokyo 0 0 * * *", **task_spec("daily", timeout=90)},
        ],
        heartbeat_interval=1,
    )
    ticking, daily = scheduler.ready["entry_ids"]
    wait_until(lambda: len(go.inspect("scheduler-history", ticking)) >= 2, "two Go fires")
    with Inspector.from_url(redis_url) as inspector:
        ours = {entry.id: plain(entry) for entry in inspector.scheduler_entries()}
        history = [plain(e) for e in inspector.list_scheduler_enqueue_events(ticking)]
    theirs = {e["id"]: e for e in go.inspect("scheduler-entries")}
    assert set(ours) == set(theirs) == {ticking, daily}
    for entry_id, entry in theirs.items():
        mine = ours[entry_id]
        assert (mine["spec"], mine["task_type"]) == (entry["spec"], entry["type"])
        assert mine["task_payload"] == b64decode(entry["payload"])
        assert list(mine["options"]) == entry["options"]
        assert mine["next"] == entry["next"]
        assert mine["prev"] == entry["prev"]
    go_history = go.inspect("scheduler-history", ticking)
    assert [e["task_id"] for e in history][: len(go_history)] == [e["task_id"] for e in go_history]
    scheduler.terminate()
    with Inspector.from_url(redis_url) as inspector:
        assert inspector.scheduler_entries() == []
        assert inspector.list_scheduler_enqueue_events(ticking) == []  # Go clears history
