"""Issue 3, items 4-6: Go's and kasynq's Inspectors read and change the same queues alike.

A queue is seeded in all seven states by both clients and a real Go server (retry, archived,
completed and active tasks come from its handlers; it is then killed so active tasks stay).
Both Inspectors must then return the same QueueInfo, history, groups, lists and task infos;
each Inspector pauses, archives, runs and deletes the other side's tasks and both agree on
every count afterwards. Every test runs on standalone Redis and on Redis Cluster.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kasynq.errors import KasynqError, QueueNotEmptyError, QueueNotFoundError
from kasynq.task import Task

from devenv.goasynq import GoAsynqError
from devenv.processes import wait_until
from tests.interop.compare import go_plain, plain, task_info_diff
from tests.interop.conftest import Target

pytestmark = pytest.mark.requires_go

QUEUE = "seed"
STATES = ("pending", "active", "scheduled", "retry", "archived", "completed")
COUNT_FIELDS = (
    "queue",
    "size",
    "groups",
    "pending",
    "active",
    "scheduled",
    "retry",
    "archived",
    "completed",
    "aggregating",
    "processed",
    "failed",
    "processed_total",
    "failed_total",
    "paused",
)
BEHAVIOURS = {
    "to-retry": {"fail_times": -1, "error": "planned failure: retry me"},
    "to-archive": {"skip_retry": True, "error": "planned failure: archive me"},
    "to-complete": {"result": "ZG9uZQ=="},
    "stay-active": {"sleep_ms": 600_000},
}


def behaviour_payload(name: str) -> bytes:
    return json.dumps({"behaviour": BEHAVIOURS[name]}).encode()


def seed_all_states(target: Target) -> None:
    """Two tasks (one Python-made, one Go-made) in each state, three aggregating tasks in two
    groups, and today's processed/failed counters, in queue `seed`."""
    for name in BEHAVIOURS:
        retention = 3600 if name == "to-complete" else None
        target.client.enqueue(Task(name, behaviour_payload(name)), queue=QUEUE, retention=retention)
        target.go.enqueue(name, behaviour_payload(name), queue=QUEUE, retention=retention)
    server = target.go.start_server(
        queues={QUEUE: 1},
        concurrency=4,
        retry_delay=3600,
        record_list="seed:done",
        started_list="seed:started",
        log_level="error",
    )
    wait_until(
        lambda: target.redis.llen("seed:done") == 6 and target.redis.llen("seed:started") == 8,
        "the Go server to finish 6 tasks and hold 2",
    )

    def outcomes_written() -> bool:  # handlers record before the server writes the outcome
        info = target.go.inspect("queue-info", QUEUE)
        return (info["active"], info["retry"], info["archived"], info["completed"]) == (2, 2, 2, 2)

    wait_until(outcomes_written, "the Go server to write the 6 outcomes")
    server.kill()  # the two sleeping tasks stay active, as after a crash
    for side in ("py", "go"):
        enqueue = (
            (lambda kind, **o: target.client.enqueue(Task(kind, b"x"), queue=QUEUE, **o))
            if side == "py"
            else (lambda kind, **o: target.go.enqueue(kind, b"x", queue=QUEUE, **o))
        )
        enqueue(f"{side}:pending")
        enqueue(f"{side}:scheduled", process_in=3600)
        enqueue(f"{side}:aggregating", group="g1")
    target.client.enqueue(Task("py:aggregating"), queue=QUEUE, group="g2")
    target.redis.delete("seed:done", "seed:started")


def assert_counts_agree(target: Target, queue: str = QUEUE, **expected: Any) -> dict[str, Any]:
    py = plain(target.inspector.get_queue_info(queue))
    go = target.go.inspect("queue-info", queue)
    assert {f: py[f] for f in COUNT_FIELDS} == {f: go[f] for f in COUNT_FIELDS}
    assert {name: go[name] for name in expected} == expected
    return go


def test_queue_info_is_the_same(target: Target) -> None:
    seed_all_states(target)
    go_first = target.go.inspect("queue-info", QUEUE)
    py = plain(target.inspector.get_queue_info(QUEUE))
    go = target.go.inspect("queue-info", QUEUE)
    assert {f: py[f] for f in COUNT_FIELDS} == {f: go[f] for f in COUNT_FIELDS}
    assert (go["pending"], go["active"], go["scheduled"], go["retry"]) == (2, 2, 2, 2)
    assert (go["archived"], go["completed"], go["aggregating"], go["groups"]) == (2, 2, 3, 2)
    assert (go["processed"], go["failed"], go["size"]) == (6, 4, 15)
    assert abs(py["latency"] - go["latency"]) < 2.0
    assert abs(py["timestamp"] - go["timestamp"]) < 5.0
    # Static data and the same sampling script: Go's own two reads and ours agree.
    assert go_first["memory_usage"] == go["memory_usage"]
    assert py["memory_usage"] == go["memory_usage"]


def test_history_and_groups_are_the_same(target: Target) -> None:
    seed_all_states(target)
    py_days = [
        (d.queue, d.processed, d.failed, d.date.strftime("%Y-%m-%d"))
        for d in target.inspector.history(QUEUE, 7)
    ]
    go_days = [
        (d["queue"], d["processed"], d["failed"], d["date"])
        for d in target.go.inspect("history", QUEUE, 7)
    ]
    assert py_days == go_days
    assert len(go_days) == 7 and go_days[0][1:3] == (6, 4)
    assert sorted(plain(target.inspector.groups(QUEUE)), key=lambda g: g["group"]) == sorted(
        target.go.inspect("groups", QUEUE), key=lambda g: g["group"]
    )


def py_list(target: Target, state: str, **paging: Any) -> list[Any]:
    if state == "aggregating":
        return target.inspector.list_aggregating_tasks(QUEUE, paging.pop("group"), **paging)
    return getattr(target.inspector, f"list_{state}_tasks")(QUEUE, **paging)


@pytest.mark.parametrize("state", [*STATES, "aggregating"])
def test_lists_are_the_same_page_by_page(target: Target, state: str) -> None:
    seed_all_states(target)
    group = {"group": "g1"} if state == "aggregating" else {}
    for page in (1, 2, 3):
        py_page = py_list(target, state, page_size=1, page=page, **group)
        go_page = target.go.inspect("list", QUEUE, state, page=page, size=1, **group)
        assert [info.id for info in py_page] == [info["id"] for info in go_page]
        for py_info, go_info in zip(py_page, go_page, strict=True):
            assert task_info_diff(py_info, go_info) == {}
    default_py = [info.id for info in py_list(target, state, **group)]
    default_go = [info["id"] for info in target.go.inspect("list", QUEUE, state, **group)]
    assert default_py == default_go and len(default_go) == 2


def test_orphaned_active_tasks_agree(target: Target) -> None:
    """Checklist G60: IsOrphaned is true exactly for active tasks whose lease score <= now."""
    seed_all_states(target)
    active = target.go.inspect("list", QUEUE, "active")
    assert [info["is_orphaned"] for info in active] == [False, False]
    expired = active[0]["id"]
    target.redis.zadd(f"asynq:{{{QUEUE}}}:lease", {expired: int(time.time()) - 1})
    py_flags = {info.id: info.is_orphaned for info in target.inspector.list_active_tasks(QUEUE)}
    go_flags = {
        info["id"]: info["is_orphaned"] for info in target.go.inspect("list", QUEUE, "active")
    }
    assert py_flags == go_flags == {info["id"]: info["id"] == expired for info in active}


def ids_by_maker(target: Target, state: str) -> dict[str, str]:
    """{"py"|"go": id} of the seeded tasks in `state`, by their type prefix or maker."""
    infos = go_plain(target.go.inspect("list", QUEUE, state))
    return {info["type"].split(":")[0]: info["id"] for info in infos}


def test_each_inspector_changes_the_other_sides_tasks(target: Target) -> None:
    seed_all_states(target)
    pending = ids_by_maker(target, "pending")
    scheduled = ids_by_maker(target, "scheduled")
    # Pause and unpause, including the error for a second pause, on either side.
    target.go.inspect("pause", QUEUE)
    assert_counts_agree(target, paused=True)
    with pytest.raises(KasynqError):
        target.inspector.pause_queue(QUEUE)
    target.inspector.unpause_queue(QUEUE)
    assert_counts_agree(target, paused=False)
    with pytest.raises(GoAsynqError):
        target.go.inspect("unpause", QUEUE)
    # Archive the other side's pending task, then run the other side's archived task.
    target.go.inspect("archive-task", QUEUE, pending["py"])
    target.inspector.archive_task(QUEUE, pending["go"])
    assert_counts_agree(target, pending=0, archived=4)
    target.go.inspect("run-task", QUEUE, pending["go"])
    target.inspector.run_task(QUEUE, pending["py"])
    assert_counts_agree(target, pending=2, archived=2)
    # Run one scheduled task, delete the other, each side on the other's task.
    target.inspector.run_task(QUEUE, scheduled["go"])
    target.go.inspect("delete-task", QUEUE, scheduled["py"])
    assert_counts_agree(target, pending=3, scheduled=0)
    # Bulk operations report the same counts.
    assert target.go.inspect("archive-all", QUEUE, "pending") == {"count": 3}
    assert target.inspector.run_all_archived_tasks(QUEUE) == 5
    assert_counts_agree(target, pending=5, archived=0)
    assert target.inspector.archive_all_retry_tasks(QUEUE) == 2
    assert target.go.inspect("delete-all", QUEUE, "archived") == {"count": 2}
    assert target.go.inspect("run-all", QUEUE, "aggregating", group="g1") == {"count": 2}
    assert target.inspector.delete_all_aggregating_tasks(QUEUE, "g2") == 1
    assert_counts_agree(target, pending=7, retry=0, archived=0, aggregating=0, groups=0)
    assert target.inspector.delete_all_pending_tasks(QUEUE) == 7
    assert target.go.inspect("delete-all", QUEUE, "completed") == {"count": 2}
    assert_counts_agree(target, size=2, active=2)


def test_delete_queue_errors_and_force_agree(target: Target) -> None:
    target.client.enqueue(Task("a"), queue="q1")
    target.go.enqueue("a", queue="q2")
    with pytest.raises(GoAsynqError) as go_error:
        target.go.inspect("delete-queue", "q1")
    assert go_error.value.kind == "queue_not_empty"
    with pytest.raises(QueueNotEmptyError):
        target.inspector.delete_queue("q2")
    target.go.inspect("delete-queue", "q1", force=True)
    target.inspector.delete_queue("q2", force=True)
    assert target.go.inspect("queues") == target.inspector.queues() == []
    with pytest.raises(GoAsynqError) as missing:
        target.go.inspect("queue-info", "q1")
    # Go's GetQueueInfo returns the internal error unwrapped, not ErrQueueNotFound.
    assert missing.value.message == 'NOT_FOUND: queue "q1" does not exist'
    with pytest.raises(QueueNotFoundError):
        target.inspector.get_queue_info("q2")


@pytest.mark.parametrize("deleter", ["go", "py"])
def test_delete_task_releases_the_other_sides_unique_lock(target: Target, deleter: str) -> None:
    """G61: DeleteTask releases the unique lock of a task the other side enqueued."""
    if deleter == "go":
        task_id = target.client.enqueue(Task("u", b"p"), unique=600).id
        target.go.inspect("delete-task", "default", task_id)
    else:
        task_id = target.go.enqueue("u", b"p", unique=600)["id"]
        target.inspector.delete_task("default", task_id)
    assert target.all_keys("asynq:{default}:unique:*") == []
    target.client.enqueue(Task("u", b"p"), unique=600)  # no longer a duplicate


@pytest.mark.parametrize("archiver", ["go", "py"])
def test_inspector_archive_trims_but_keeps_hashes(target: Target, archiver: str) -> None:
    """G63: an Inspector's ArchiveTask trims a full archive to the newest 9,999 entries like
    the server does, but leaves the trimmed tasks' hashes (Go quirk, reproduced)."""
    now = int(time.time())
    seeded = [f"seeded-{i:05d}" for i in range(9_999)]
    archived_key = f"asynq:{{{QUEUE}}}:archived"
    with target.redis.pipeline(transaction=False) as pipe:
        for offset, task_id in enumerate(seeded):
            pipe.zadd(archived_key, {task_id: now - 10_000 + offset})
        pipe.hset(f"asynq:{{{QUEUE}}}:t:{seeded[0]}", mapping={"state": "archived"})
        pipe.execute()
    task_id = target.client.enqueue(Task("a"), queue=QUEUE).id
    if archiver == "go":
        target.go.inspect("archive-task", QUEUE, task_id)
    else:
        target.inspector.archive_task(QUEUE, task_id)
    members = [m.decode() for m in target.redis.zrange(archived_key, 0, -1)]
    assert len(members) == 9_999 and members[0] == seeded[1] and members[-1] == task_id
    assert target.redis.exists(f"asynq:{{{QUEUE}}}:t:{seeded[0]}")
