"""Issue 20: asynqmon v0.7.2, the web UI of Go asynq's users, reads the state kasynq writes.

A queue is filled by kasynq alone: its Client enqueues, its Server (tests/interop/pyserver.py)
processes tasks into retry, archived and completed (with a result) and holds one active,
then the queue is paused and gets pending (JSON, binary and markup payloads), scheduled and
aggregating tasks in two groups; a second queue holds one pending task. asynqmon
(tests/interop/asynqmon: its `asynqmon.New` handler, one process for the module) must list
the queues, counts, tasks, task details, groups, history and our server exactly as its own
conversion of Go's Inspector output would (asynqmon's `toQueueStateSnapshot`, `toXTask`,
`toTaskInfo`, `toServerInfo`), and the values must be the ones kasynq wrote.
"""

from __future__ import annotations

import json
import math
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kasynq.client import Client
from kasynq.inspector import Inspector
from kasynq.task import Task

from devenv import goasynq
from devenv.goasynq import GoAsynq, b64decode
from devenv.processes import wait_until
from devenv.redis_servers import RedisServer
from tests.interop.test_inspector_interop import BEHAVIOURS, behaviour_payload

pytestmark = pytest.mark.requires_go

QUEUE = "mon"
OTHER_QUEUE = "mon-other"
RETENTION_SECONDS = 3600
PENDING_PAYLOADS = {
    "json": json.dumps({"n": 1, "text": "héllo"}, ensure_ascii=False).encode(),
    "binary": b"\x00\xffbinary",
    "markup": b"<script>alert(1)</script>",
}
LIST_STATES = ("active", "pending", "scheduled", "retry", "archived", "completed")
TTL_TOLERANCE_SECONDS = 5
NOW_TOLERANCE_SECONDS = 5.0
"""asynqmon's and Go's reads each put their own `now` into TTLs and pending NextProcessAt."""
LATENCY_TOLERANCE_MS = 2000
MEMORY_RELATIVE_SPREAD = 0.05
NANO_TIME_TOLERANCE = 2e-6
"""time.Time JSON (RFC 3339 with nanoseconds) against goasynq's float seconds."""


@dataclass
class Monitored:
    """The seeded Redis, Go bound to it, asynqmon's base URL and our server's pid."""

    go: GoAsynq
    url: str
    server_pid: int

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}/api/{path}", timeout=10) as response:
            return json.loads(response.read())


def seed(client: Client, inspector: Inspector, go: GoAsynq) -> int:
    """Fill `mon` and `mon-other` with kasynq only; returns the pid of our running server."""
    for name in BEHAVIOURS:
        retention = RETENTION_SECONDS if name == "to-complete" else None
        client.enqueue(Task(name, behaviour_payload(name)), queue=QUEUE, retention=retention)
    server = go.start_py_server(queues={QUEUE: 1}, concurrency=4, retry_delay=3600)

    def outcomes_written() -> bool:
        info = inspector.get_queue_info(QUEUE)
        return (info.active, info.retry, info.archived, info.completed) == (1, 1, 1, 1)

    wait_until(outcomes_written, "our server to finish three tasks and hold one")
    inspector.pause_queue(QUEUE)  # our server now leaves what follows alone
    for name, payload in PENDING_PAYLOADS.items():
        client.enqueue(Task(f"pending:{name}", payload), queue=QUEUE, max_retry=7)
    client.enqueue(Task("later", b"soon"), queue=QUEUE, process_in=3600, timeout=90)
    for group in ("g1", "g1", "g2"):
        client.enqueue(Task("batched", group.encode()), queue=QUEUE, group=group)
    client.enqueue(Task("elsewhere", b"other"), queue=OTHER_QUEUE)
    wait_until(
        lambda: len(go.inspect("servers")[0]["active_workers"]) == 1,
        "our server's heartbeat to list its active worker",
    )
    return server.pid


@pytest.fixture(scope="module")
def asynqmon_binary() -> Path:
    return goasynq.build_asynqmon()


@pytest.fixture(scope="module")
def monitored(
    go_asynq: Path, asynqmon_binary: Path, redis_server: RedisServer
) -> Iterator[Monitored]:
    """One seeded Redis and one asynqmon process for every test of the module."""
    with redis_server.client() as conn:
        conn.flushall()
    with (
        GoAsynq.standalone(go_asynq, redis_server.url) as go,
        Client.from_url(redis_server.url) as client,
        Inspector.from_url(redis_server.url) as inspector,
    ):
        server_pid = seed(client, inspector, go)
        asynqmon = go.start_program(asynqmon_binary)
        yield Monitored(go, f"http://{asynqmon.ready['address']}", server_pid)


# asynqmon's conversions (`toQueueStateSnapshot`, `toXTask`, `toTaskInfo`, `toServerInfo`), applied
# to goasynq's Inspector JSON.


def formatted(data: bytes) -> str:
    """asynqmon's `DefaultPayloadFormatter`/`DefaultResultFormatter` (`isPrintable`)."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "non-printable bytes"
    # Go's unicode.IsPrint and Python's str.isprintable agree: the only space either counts
    # as printable is U+0020, so "printable and not all space" is "printable and not blank".
    if not text.isprintable() or not text.strip():
        return "non-printable bytes"
    return text


def parsed_time(text: str) -> float | None:
    """Unix seconds of an RFC 3339 time in asynqmon's JSON; None for "" (Go's zero time)."""
    return datetime.fromisoformat(text).timestamp() if text else None


def whole_seconds(go_seconds: float | None) -> float | None:
    """What `formatTimeInRFC3339` (time.RFC3339: whole seconds) keeps of a Go time."""
    return None if go_seconds is None else float(math.floor(go_seconds))


def base_task(go_info: dict[str, Any]) -> dict[str, Any]:
    """asynqmon's `baseTask` of a goasynq TaskInfo."""
    return {
        "id": go_info["id"],
        "type": go_info["type"],
        "payload": formatted(b64decode(go_info["payload"])),
        "queue": go_info["queue"],
        "max_retry": go_info["max_retry"],
        "retried": go_info["retried"],
        "error_message": go_info["last_err"],
    }


def expected_row(
    go_info: dict[str, Any], state: str, workers: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """asynqmon's list row (`toActiveTask`, `toPendingTask`, ...) of a goasynq TaskInfo, times
    as Unix seconds."""
    row = base_task(go_info)
    if state == "active":
        worker = workers[go_info["id"]]
        row["start_time"] = whole_seconds(worker["started"])
        row["deadline"] = whole_seconds(worker["deadline"])
        row["is_orphaned"] = go_info["is_orphaned"]
    elif state == "aggregating":
        row["group"] = go_info["group"]
    elif state in ("scheduled", "retry"):
        row["next_process_at"] = go_info["next_process_at"]
    elif state == "archived":
        row["last_failed_at"] = go_info["last_failed_at"]
    elif state == "completed":
        row["completed_at"] = go_info["completed_at"]
        row["result"] = formatted(b64decode(go_info["result"]))
        row["ttl_seconds"] = go_info["completed_at"] + go_info["retention"] - time.time()
    return row


def comparable_row(row: dict[str, Any], state: str) -> dict[str, Any]:
    """An asynqmon list row with its times parsed (RFC 3339 strings to Unix seconds)."""
    times = {
        "active": ("start_time", "deadline"),
        "scheduled": ("next_process_at",),
        "retry": ("next_process_at",),
        "archived": ("last_failed_at",),
        "completed": ("completed_at",),
    }.get(state, ())
    return {name: parsed_time(value) if name in times else value for name, value in row.items()}


def expected_task_info(go_info: dict[str, Any]) -> dict[str, Any]:
    """asynqmon's `toTaskInfo` (the task page) of a goasynq TaskInfo, times as Unix seconds."""
    completed_at = go_info["completed_at"]
    return {
        "id": go_info["id"],
        "queue": go_info["queue"],
        "type": go_info["type"],
        "payload": formatted(b64decode(go_info["payload"])),
        "state": go_info["state"],
        "max_retry": go_info["max_retry"],
        "retried": go_info["retried"],
        "error_message": go_info["last_err"],
        "last_failed_at": whole_seconds(go_info["last_failed_at"]),
        "timeout_seconds": int(go_info["timeout"]),
        "deadline": whole_seconds(go_info["deadline"]),
        "next_process_at": whole_seconds(go_info["next_process_at"]),
        "completed_at": whole_seconds(completed_at),
        "result": formatted(b64decode(go_info["result"])),
        "ttl_seconds": (
            completed_at + go_info["retention"] - time.time() if completed_at is not None else 0
        ),
    }


def comparable_task_info(info: dict[str, Any]) -> dict[str, Any]:
    times = ("last_failed_at", "deadline", "next_process_at", "completed_at")
    return {name: parsed_time(value) if name in times else value for name, value in info.items()}


def assert_same(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal field by field; TTLs, pending tasks' NextProcessAt (both `now`) and nanosecond
    times within their tolerances."""
    assert actual.keys() == expected.keys()
    for name, want in expected.items():
        got = actual[name]
        if name == "ttl_seconds" and want:
            assert abs(got - want) <= TTL_TOLERANCE_SECONDS, (name, got, want)
        elif name == "next_process_at" and expected.get("state") == "pending":
            assert abs(got - want) <= NOW_TOLERANCE_SECONDS, (name, got, want)
        elif isinstance(want, float):
            assert got == pytest.approx(want, abs=NANO_TIME_TOLERANCE), (name, got, want)
        else:
            assert got == want, (name, got, want)


def go_lists(go: GoAsynq) -> dict[str, list[dict[str, Any]]]:
    """Go's Inspector lists of `mon`, by state, and of each group as "aggregating:<group>"."""
    lists = {state: go.inspect("list", QUEUE, state) for state in LIST_STATES}
    for group in ("g1", "g2"):
        lists[f"aggregating:{group}"] = go.inspect("list", QUEUE, "aggregating", group=group)
    return lists


def test_queue_list_and_counts_are_go_inspectors(monitored: Monitored) -> None:
    """/api/queues: asynqmon's `toQueueStateSnapshot` of Go's QueueInfo, for both queues."""
    started = time.monotonic()
    listed = monitored.api("queues")["queues"]
    go_infos = {name: monitored.go.inspect("queue-info", name) for name in (QUEUE, OTHER_QUEUE)}
    apart_ms = (time.monotonic() - started) * 1000
    assert sorted(snapshot["queue"] for snapshot in listed) == [QUEUE, OTHER_QUEUE]
    for snapshot in listed:
        go = go_infos[snapshot["queue"]]
        counts = ("size", "groups", "active", "pending", "aggregating", "scheduled", "retry")
        counts += ("archived", "completed", "processed", "failed", "paused")
        assert {name: snapshot[name] for name in counts} == {name: go[name] for name in counts}
        assert snapshot["succeeded"] == go["processed"] - go["failed"]
        assert (
            abs(snapshot["latency_msec"] - go["latency"] * 1000) <= LATENCY_TOLERANCE_MS + apart_ms
        )
        assert snapshot["memory_usage_bytes"] == pytest.approx(
            go["memory_usage"], rel=MEMORY_RELATIVE_SPREAD
        )
        taken = parsed_time(snapshot["timestamp"])
        assert taken is not None and abs(taken - go["timestamp"]) <= NOW_TOLERANCE_SECONDS
    mon = next(snapshot for snapshot in listed if snapshot["queue"] == QUEUE)
    # What kasynq wrote: 3 pending, 1 each active/scheduled/retry/archived/completed, 3
    # aggregating in 2 groups; 3 processed today of which 2 failed; paused.
    assert (mon["pending"], mon["active"], mon["scheduled"], mon["retry"]) == (3, 1, 1, 1)
    assert (mon["archived"], mon["completed"], mon["aggregating"], mon["groups"]) == (1, 1, 3, 2)
    assert (mon["size"], mon["processed"], mon["failed"], mon["paused"]) == (11, 3, 2, True)
    other = next(snapshot for snapshot in listed if snapshot["queue"] == OTHER_QUEUE)
    assert (other["pending"], other["size"], other["paused"]) == (1, 1, False)


def test_queue_page_history_and_groups_are_go_inspectors(monitored: Monitored) -> None:
    """/api/queues/mon (10 days of history) and /api/queues/mon/groups."""
    page = monitored.api(f"queues/{QUEUE}")
    go_history = monitored.go.inspect("history", QUEUE, 10)
    assert page["history"] == [
        {
            "queue": day["queue"],
            "processed": day["processed"],
            "succeeded": day["processed"] - day["failed"],
            "failed": day["failed"],
            "date": day["date"],
        }
        for day in go_history
    ]
    assert (page["history"][0]["processed"], page["history"][0]["failed"]) == (3, 2)
    assert page["current"]["paused"] is True
    groups = monitored.api(f"queues/{QUEUE}/groups")["groups"]
    go_groups = monitored.go.inspect("groups", QUEUE)
    assert sorted(groups, key=lambda g: g["group"]) == sorted(go_groups, key=lambda g: g["group"])
    assert sorted((g["group"], g["size"]) for g in groups) == [("g1", 2), ("g2", 1)]


def test_task_lists_are_go_inspectors(monitored: Monitored) -> None:
    """/api/queues/mon/<state>_tasks and the groups' aggregating_tasks, row by row."""
    go = go_lists(monitored.go)
    (server,) = monitored.go.inspect("servers")
    workers = {worker["task_id"]: worker for worker in server["active_workers"]}
    for name, go_infos in go.items():
        state, _, group = name.partition(":")
        path = (
            f"queues/{QUEUE}/groups/{group}/aggregating_tasks"
            if group
            else f"queues/{QUEUE}/{state}_tasks"
        )
        rows = monitored.api(path)["tasks"]
        assert [row["id"] for row in rows] == [info["id"] for info in go_infos], name
        for row, go_info in zip(rows, go_infos, strict=True):
            assert_same(comparable_row(row, state), expected_row(go_info, state, workers))
    # The values kasynq wrote are really there (not two empty pages agreeing).
    assert {info["type"]: formatted(b64decode(info["payload"])) for info in go["pending"]} == {
        "pending:json": '{"n": 1, "text": "h\u00e9llo"}',
        "pending:binary": "non-printable bytes",
        "pending:markup": "<script>alert(1)</script>",
    }
    assert [(info["type"], info["retried"], info["last_err"]) for info in go["retry"]] == [
        ("to-retry", 1, "planned failure: retry me")
    ]
    assert [(info["type"], info["last_err"]) for info in go["archived"]] == [
        ("to-archive", "planned failure: archive me: skip retry for the task")
    ]
    assert [b64decode(info["result"]) for info in go["completed"]] == [b"done"]
    assert [info["type"] for info in go["active"]] == ["stay-active"]


def test_task_pages_are_go_inspectors(monitored: Monitored) -> None:
    """/api/queues/mon/tasks/<id> (asynqmon's task page) for a task in every state."""
    go = go_lists(monitored.go)
    infos = [info for go_infos in go.values() for info in go_infos]
    assert len(infos) == 11
    for go_info in infos:
        page = monitored.api(f"queues/{QUEUE}/tasks/{go_info['id']}")
        assert_same(comparable_task_info(page), expected_task_info(go_info))
    completed = monitored.api(f"queues/{QUEUE}/tasks/{go['completed'][0]['id']}")
    assert (completed["state"], completed["result"]) == ("completed", "done")
    assert 0 < completed["ttl_seconds"] <= RETENTION_SECONDS
    scheduled = monitored.api(f"queues/{QUEUE}/tasks/{go['scheduled'][0]['id']}")
    assert (scheduled["type"], scheduled["timeout_seconds"]) == ("later", 90)
    with pytest.raises(urllib.error.HTTPError) as missing:
        monitored.api(f"queues/{QUEUE}/tasks/no-such-task")
    assert missing.value.code == 404


def test_our_server_and_its_worker_are_listed(monitored: Monitored) -> None:
    """/api/servers: asynqmon's `toServerInfo` of Go's ServerInfo for our running server."""
    (listed,) = monitored.api("servers")["servers"]
    (go,) = monitored.go.inspect("servers")
    assert {**listed, "start_time": parsed_time(listed["start_time"])} == {
        "id": go["id"],
        "host": go["host"],
        "pid": go["pid"],
        "concurrency": go["concurrency"],
        "queue_priorities": go["queues"],
        "strict_priority_enabled": go["strict_priority"],
        "start_time": whole_seconds(go["started"]),
        "status": go["status"],
        "active_workers": [
            {
                "task_id": worker["task_id"],
                "queue": worker["queue"],
                "task_type": worker["task_type"],
                "task_payload": formatted(b64decode(worker["task_payload"])),
                "start_time": listed["active_workers"][0]["start_time"],
            }
            for worker in go["active_workers"]
        ],
    }
    (worker,) = go["active_workers"]
    assert parsed_time(listed["active_workers"][0]["start_time"]) == whole_seconds(
        worker["started"]
    )
    assert (listed["host"], listed["pid"], listed["status"]) == (
        socket.gethostname(),
        monitored.server_pid,
        "active",
    )
    assert listed["queue_priorities"] == {QUEUE: 1}
    assert listed["active_workers"][0]["task_type"] == "stay-active"


def test_embedded_ui_is_served(monitored: Monitored) -> None:
    """The module proxy's asynqmon carries its built UI (`//go:embed ui/build/*`): the page
    is served, rendered for its root path, without any UI build step here."""
    with urllib.request.urlopen(f"{monitored.url}/queues/{QUEUE}", timeout=10) as response:
        page = response.read().decode()
    assert "Asynq monitoring web console" in page
    assert "[[.RootPath]]" not in page
