"""Issue 9: every `kasynq` subcommand on state written by Go asynq, checked against Go.

Queues are seeded in all states by Go's client and a real Go server (`seed_all_states`);
each subcommand's JSON output is compared with what Go's Inspector reports, and its table
output with the same values. Mutations (single and `--all`) are checked through Go's
Inspector afterwards, and bulk counts against Go's counts before. `server ls` runs against a
live Go server, `cron ls|history` against a live Go Scheduler, `task cancel` reaches a Go
handler. Most tests run on standalone Redis; one runs the core commands on Cluster too.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import pytest
from click.testing import Result
from kasynq.cli.stats import QUEUE_COLUMNS

from devenv.goasynq import GoAsynqError, b64decode, task_spec
from devenv.processes import wait_until
from tests.cli.clirun import kasynq, kasynq_json, table_rows
from tests.interop.compare import task_info_diff
from tests.interop.conftest import Target
from tests.interop.test_inspector_interop import (
    COUNT_FIELDS,
    QUEUE,
    STATES,
    behaviour_payload,
    seed_all_states,
)

pytestmark = pytest.mark.requires_go

standalone = pytest.mark.parametrize("target", ["standalone"], indirect=True)
TIME_FIELDS = ("last_failed_at", "deadline", "next_process_at", "completed_at")
STATE_COLUMNS = ("pending", "active", "scheduled", "retry", "archived", "completed")


def kasynq_connection(target: Target) -> tuple[str, bool]:
    """(--redis-url, --cluster) reaching the target's Redis."""
    if target.cluster_nodes:
        host, port = target.cluster_nodes[0]
        return f"redis://{host}:{port}", True
    assert target.redis_url is not None
    return target.redis_url, False


def cli(target: Target, *args: str) -> Result:
    url, cluster = kasynq_connection(target)
    return kasynq(url, *args, cluster=cluster)


def cli_json(target: Target, *args: str) -> Any:
    url, cluster = kasynq_connection(target)
    return kasynq_json(url, *args, cluster=cluster)


def ok_table(target: Target, *args: str) -> str:
    result = cli(target, *args)
    assert result.exit_code == 0, (result.output, result.stderr)
    return result.stdout


def record_table(text: str) -> dict[str, str]:
    """A two-column record table (field, value) as a dict."""
    return {row[0]: row[1] for row in table_rows(text) if len(row) == 2}


def from_cli_bytes(text: str | None) -> bytes | None:
    """Undo the CLI's printable form of bytes (UTF-8 text, or `base64:...`)."""
    if text is None:
        return None
    if text.startswith("base64:"):
        return base64.b64decode(text.removeprefix("base64:"))
    return text.encode()


def cli_task(data: dict[str, Any]) -> dict[str, Any]:
    """A task's CLI JSON in the shape `task_info_diff` compares with Go's TaskInfo."""
    task = dict(data)
    for name in TIME_FIELDS:
        if task[name] is not None:
            task[name] = datetime.fromisoformat(task[name])
    task["payload"] = from_cli_bytes(task["payload"])
    task["result"] = from_cli_bytes(task["result"])
    return task


def go_counts(target: Target, queue: str = QUEUE) -> dict[str, Any]:
    info: dict[str, Any] = target.go.inspect("queue-info", queue)
    return info


# -- queues and stats -------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_stats_queue_ls_and_task_ls_on_standalone_and_cluster(target: Target) -> None:
    seed_all_states(target)
    go = go_counts(target)
    stats = cli_json(target, "stats")
    (ours,) = [queue for queue in stats["queues"] if queue["queue"] == QUEUE]
    assert {f: ours[f] for f in COUNT_FIELDS} == {f: go[f] for f in COUNT_FIELDS}
    assert set(stats["redis"]) >= {"redis_version", "connected_clients", "used_memory_human"}
    (row,) = [row for row in table_rows(ok_table(target, "stats")) if row[0] == QUEUE]
    cells = dict(zip(QUEUE_COLUMNS, row, strict=True))
    assert [cells[state] for state in STATE_COLUMNS] == [str(go[state]) for state in STATE_COLUMNS]

    assert cli_json(target, "queue", "ls") == sorted(target.go.inspect("queues"))
    go_pending = [task["id"] for task in target.go.inspect("list", QUEUE, "pending")]
    listed = cli_json(target, "task", "ls", "--queue", QUEUE, "--state", "pending")
    assert [task["id"] for task in listed] == go_pending
    archived = cli_json(target, "task", "archive", "--queue", QUEUE, "--all", "--state", "pending")
    assert archived["count"] == len(go_pending) == go["pending"]
    assert go_counts(target)["archived"] == go["archived"] + go["pending"]


@standalone
def test_queue_inspect_and_history_match_go(target: Target) -> None:
    seed_all_states(target)
    go = go_counts(target)
    ours = cli_json(target, "queue", "inspect", QUEUE)
    assert {f: ours[f] for f in COUNT_FIELDS} == {f: go[f] for f in COUNT_FIELDS}
    assert abs(ours["latency"] - go["latency"]) < 2.0
    shown = record_table(ok_table(target, "queue", "inspect", QUEUE))
    assert {f: shown[f] for f in STATE_COLUMNS} == {f: str(go[f]) for f in STATE_COLUMNS}
    assert shown["paused"] == "no" and shown["queue"] == QUEUE

    go_days = target.go.inspect("history", QUEUE, 7)
    ours_days = cli_json(target, "queue", "history", QUEUE, "--days", "7")
    assert [(d["processed"], d["failed"]) for d in ours_days] == [
        (d["processed"], d["failed"]) for d in go_days
    ]
    assert [d["date"][:10] for d in ours_days] == [d["date"] for d in go_days]
    table = table_rows(ok_table(target, "queue", "history", QUEUE, "--days", "7"))
    assert table == [[d["date"], str(d["processed"]), str(d["failed"])] for d in go_days]


@standalone
def test_queue_pause_unpause_and_rm_seen_by_go(target: Target) -> None:
    seed_all_states(target)
    assert cli_json(target, "queue", "pause", QUEUE) == {"queue": QUEUE, "paused": True}
    assert go_counts(target)["paused"] is True
    assert ok_table(target, "queue", "unpause", QUEUE).strip() == f"queue {QUEUE} unpaused"
    assert go_counts(target)["paused"] is False
    assert ok_table(target, "queue", "pause", QUEUE).strip() == f"queue {QUEUE} paused"
    assert go_counts(target)["paused"] is True

    target.go.enqueue("solo", b"", queue="solo")
    refused = cli(target, "queue", "rm", "solo")
    assert refused.exit_code == 1 and "solo" in refused.stderr
    assert refused.stderr.strip().count("\n") == 0
    assert cli_json(target, "queue", "rm", "solo", "--force") == {"queue": "solo"}
    assert "solo" not in target.go.inspect("queues")
    missing = cli(target, "queue", "inspect", "solo")
    assert missing.exit_code == 2 and "solo" in missing.stderr


@standalone
def test_enqueue_is_read_back_by_go(target: Target) -> None:
    enqueued = cli_json(
        target, "enqueue", "email:send", '{"to": "a@b"}', "--queue", "mail", "--max-retry", "4",
        "--timeout", "1m30s", "--process-in", "1h", "--retention", "2h", "--header", "k=v",
    )  # fmt: skip
    theirs = target.go.inspect("task-info", "mail", enqueued["id"])
    assert task_info_diff(cli_task(enqueued), theirs, next_process_at_tolerance=1.0) == {}
    assert (theirs["state"], theirs["max_retry"], theirs["timeout"]) == ("scheduled", 4, 90.0)
    assert theirs["headers"] == {"k": "v"} and theirs["retention"] == 7200.0


# -- tasks ------------------------------------------------------------------------------------


@standalone
@pytest.mark.parametrize("state", [*STATES, "aggregating"])
def test_task_ls_matches_go_in_every_state(target: Target, state: str) -> None:
    seed_all_states(target)
    group = ["--group", "g1"] if state == "aggregating" else []
    go_tasks = target.go.inspect("list", QUEUE, state, group="g1" if group else None)
    assert go_tasks, f"nothing seeded in {state}"
    ours = cli_json(target, "task", "ls", "--queue", QUEUE, "--state", state, *group)
    assert [task["id"] for task in ours] == [task["id"] for task in go_tasks]
    for mine, theirs in zip(ours, go_tasks, strict=True):
        assert task_info_diff(cli_task(mine), theirs, next_process_at_tolerance=1.0) == {}
    rows = table_rows(ok_table(target, "task", "ls", "--queue", QUEUE, "--state", state, *group))
    assert [row[0] for row in rows] == [task["id"] for task in go_tasks]
    assert [row[1] for row in rows] == [task["type"] for task in go_tasks]


@standalone
def test_single_task_inspect_run_archive_delete_seen_by_go(target: Target) -> None:
    seed_all_states(target)

    def first(state: str) -> str:
        task_id: str = target.go.inspect("list", QUEUE, state)[0]["id"]
        return task_id

    completed = first("completed")
    shown = cli_json(target, "task", "inspect", "--queue", QUEUE, "--id", completed)
    assert task_info_diff(cli_task(shown), target.go.inspect("task-info", QUEUE, completed)) == {}
    table = record_table(ok_table(target, "task", "inspect", "--queue", QUEUE, "--id", completed))
    assert (table["id"], table["state"], table["result"]) == (completed, "completed", "done")

    scheduled, pending, retry = first("scheduled"), first("pending"), first("retry")
    ran = cli_json(target, "task", "run", "--queue", QUEUE, "--id", scheduled)
    assert ran == {"queue": QUEUE, "id": scheduled, "action": "run"}
    assert target.go.inspect("task-info", QUEUE, scheduled)["state"] == "pending"
    archived = ok_table(target, "task", "archive", "--queue", QUEUE, "--id", pending)
    assert archived.strip() == f"task {pending} in queue {QUEUE}: archive done"
    assert target.go.inspect("task-info", QUEUE, pending)["state"] == "archived"
    cli_json(target, "task", "delete", "--queue", QUEUE, "--id", retry)
    with pytest.raises(GoAsynqError) as gone:
        target.go.inspect("task-info", QUEUE, retry)
    assert gone.value.kind == "task_not_found"

    missing = cli(target, "task", "inspect", "--queue", QUEUE, "--id", retry)
    assert missing.exit_code == 2 and retry in missing.stderr and "Traceback" not in missing.stderr


BULK_STEPS = [
    # (verb, state, group): each moves what Go counted in that state just before
    ("run", "scheduled", None),
    ("archive", "retry", None),
    ("run", "archived", None),
    ("archive", "pending", None),
    ("run", "aggregating", "g2"),
    ("archive", "aggregating", "g1"),
    ("delete", "pending", None),
    ("delete", "completed", None),
    ("delete", "archived", None),
]
DESTINATION = {"run": "pending", "archive": "archived", "delete": None}


def go_state_count(target: Target, state: str, group: str | None) -> int:
    if group is None:
        count: int = go_counts(target)[state]
        return count
    groups = {g["group"]: g["size"] for g in target.go.inspect("groups", QUEUE)}
    return int(groups.get(group, 0))


@standalone
def test_bulk_actions_move_what_go_counted(target: Target) -> None:
    seed_all_states(target)
    for verb, state, group in BULK_STEPS:
        before = go_counts(target)
        expected = go_state_count(target, state, group)
        assert expected > 0, f"{verb} --all {state}: nothing to act on"
        args = ["task", verb, "--queue", QUEUE, "--all", "--state", state]
        args += ["--group", group] if group else []
        answer = cli_json(target, *args)
        assert answer == {"queue": QUEUE, "state": state, "action": verb, "count": expected}
        after = go_counts(target)
        assert go_state_count(target, state, group) == 0
        destination = DESTINATION[verb]
        if destination is None:
            assert after["size"] == before["size"] - expected
        else:
            assert after[destination] == before[destination] + expected
    # The table form says the same; nothing is left to delete now.
    left = ok_table(target, "task", "delete", "--queue", QUEUE, "--all", "--state", "scheduled")
    assert left.strip() == f"delete: 0 scheduled tasks in queue {QUEUE}"


# -- groups, servers, cancellation, cron ------------------------------------------------------


@standalone
def test_group_ls_matches_go(target: Target) -> None:
    seed_all_states(target)
    go_groups = sorted(target.go.inspect("groups", QUEUE), key=lambda g: g["group"])
    ours = cli_json(target, "group", "ls", "--queue", QUEUE)
    assert (
        sorted(ours, key=lambda g: g["group"])
        == go_groups
        == [
            {"group": "g1", "size": 2},
            {"group": "g2", "size": 1},
        ]
    )
    rows = sorted(table_rows(ok_table(target, "group", "ls", "--queue", QUEUE)))
    assert rows == [[g["group"], str(g["size"])] for g in go_groups]


@standalone
@pytest.mark.timeout(120)
def test_server_ls_and_task_cancel_with_a_live_go_server(target: Target) -> None:
    server = target.go.start_server(
        queues={"work": 2, "other": 1},
        concurrency=3,
        record_list="cli:done",
        started_list="cli:started",
        log_level="error",
    )
    sleeper = target.go.enqueue("stay-active", behaviour_payload("stay-active"), queue="work")
    wait_until(lambda: target.redis.llen("cli:started") == 1, "the Go handler to start")
    wait_until(
        lambda: any(s["active_workers"] for s in target.go.inspect("servers")),
        "Go's heartbeat to list the in-flight task",
    )

    (theirs,) = target.go.inspect("servers")
    (ours,) = cli_json(target, "server", "ls")
    assert (ours["id"], ours["host"], ours["pid"]) == (theirs["id"], theirs["host"], server.pid)
    assert (ours["concurrency"], ours["queues"], ours["status"]) == (
        theirs["concurrency"],
        theirs["queues"],
        theirs["status"],
    )
    assert [w["task_id"] for w in ours["active_workers"]] == [sleeper["id"]]
    (row,) = table_rows(ok_table(target, "server", "ls"))
    assert row[:4] == [theirs["host"], str(server.pid), theirs["id"], "active"]
    assert (sorted(row[4].split(", ")), row[5]) == (["other=1", "work=2"], "1/3")

    assert cli_json(target, "task", "cancel", "--id", sleeper["id"]) == {"id": sleeper["id"]}
    wait_until(lambda: target.redis.llen("cli:done") == 1, "the Go handler to end")
    event = json.loads(target.redis.lindex("cli:done", 0))
    assert (event["id"], event["outcome"]) == (sleeper["id"], "canceled")


@standalone
@pytest.mark.timeout(120)
def test_cron_ls_and_history_match_a_live_go_scheduler(target: Target) -> None:
    scheduler = target.go.start_scheduler(
        [
            {"spec": "@every 1s", **task_spec("tick", b"tock", queue="cron", max_retry=2)},
            {"spec": "0 3 * * *", **task_spec("nightly", timeout=90)},
        ],
        heartbeat_interval=1,
    )
    ticking, nightly = scheduler.ready["entry_ids"]
    wait_until(lambda: len(target.go.inspect("scheduler-history", ticking)) >= 2, "two fires")

    theirs = {entry["id"]: entry for entry in target.go.inspect("scheduler-entries")}
    ours = {entry["id"]: entry for entry in cli_json(target, "cron", "ls")}
    assert set(ours) == set(theirs) == {ticking, nightly}
    for entry_id, entry in theirs.items():
        mine = ours[entry_id]
        assert (mine["spec"], mine["task_type"]) == (entry["spec"], entry["type"])
        assert from_cli_bytes(mine["task_payload"]) == b64decode(entry["payload"])
        assert mine["options"] == entry["options"]
    rows = {row[0]: row for row in table_rows(ok_table(target, "cron", "ls"))}
    assert rows[ticking][1:4] == ["@every 1s", "tick", "tock"]
    assert rows[nightly][1:3] == ["0 3 * * *", "nightly"]

    go_history = target.go.inspect("scheduler-history", ticking)
    history = cli_json(target, "cron", "history", ticking)
    assert [e["task_id"] for e in history][: len(go_history)] == [e["task_id"] for e in go_history]
    table = table_rows(ok_table(target, "cron", "history", ticking))
    assert [row[0] for row in table][: len(go_history)] == [e["task_id"] for e in go_history]
