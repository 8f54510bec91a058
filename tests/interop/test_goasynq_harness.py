"""The goasynq harness itself: Go enqueues, inspects, serves and computes cron times.

These tests use only Go asynq, so they pin down the harness before the Python side is
compared with it.
"""

from __future__ import annotations

import json
import time

import pytest
import redis

from devenv.goasynq import GoAsynq, GoAsynqError, b64decode, task_spec

pytestmark = pytest.mark.requires_go


def test_enqueue_returns_every_taskinfo_field(go: GoAsynq) -> None:
    info = go.enqueue(
        "email:send",
        b"\x00\x01\xff",
        headers={"trace": "ü"},
        queue="critical",
        max_retry=3,
        timeout=10,
        retention=60,
    )
    assert info["queue"] == "critical"
    assert info["type"] == "email:send"
    assert b64decode(info["payload"]) == b"\x00\x01\xff"
    assert info["headers"] == {"trace": "ü"}
    assert info["state"] == "pending"
    assert (info["max_retry"], info["timeout"], info["retention"]) == (3, 10, 60)
    assert info["deadline"] is None
    assert info == go.inspect("task-info", "critical", info["id"]) | {
        "next_process_at": info["next_process_at"]
    }


def test_errors_carry_their_kind(go: GoAsynq) -> None:
    go.enqueue("t", task_id="same")
    with pytest.raises(GoAsynqError) as conflict:
        go.enqueue("t", task_id="same")
    assert conflict.value.kind == "task_id_conflict"
    go.enqueue("u", b"p", unique=60)
    with pytest.raises(GoAsynqError) as duplicate:
        go.enqueue("u", b"p", unique=60)
    assert duplicate.value.kind == "duplicate_task"
    with pytest.raises(GoAsynqError) as missing:
        go.inspect("task-info", "default", "nope")
    assert missing.value.kind == "task_not_found"


def test_batch_enqueue_reports_per_task(go: GoAsynq) -> None:
    results = go.enqueue_many(
        [task_spec("a", task_id="x"), task_spec("a", task_id="x"), task_spec("g", group="grp")]
    )
    assert results[0]["task"]["id"] == "x"
    assert results[1]["error"]["error"] == "task_id_conflict"
    assert results[2]["task"]["state"] == "aggregating"
    assert go.inspect("groups", "default") == [{"group": "grp", "size": 1}]


def test_server_records_each_handler_call(go: GoAsynq, redis_url: str) -> None:
    flaky = go.enqueue("flaky", json.dumps({"behaviour": {"fail_times": 1}}).encode())
    kept = go.enqueue("kept", retention=60)
    server = go.start_server(
        concurrency=2,
        retry_delay=0,
        delayed_task_check_interval=1,
        record_list="done",
        behaviours={"kept": {"result": "aGk="}},
    )
    conn = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while conn.llen("done") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert go.inspect("servers")[0]["pid"] == server.pid
    assert server.terminate() == 0
    events = [json.loads(e) for e in conn.lrange("done", 0, -1)]
    outcomes = sorted((e["id"], e["retried"], e["outcome"]) for e in events)
    assert outcomes == sorted(
        [(flaky["id"], 0, "error"), (flaky["id"], 1, "ok"), (kept["id"], 0, "ok")]
    )
    assert b64decode(go.inspect("task-info", "default", kept["id"])["result"]) == b"hi"


def test_cron_next_matches_robfig_cron(go: GoAsynq) -> None:
    reference = 1_700_000_000  # 2023-11-14T22:13:20Z
    assert go.cron_next("*/5 * * * *", reference, count=2) == [1_700_000_100, 1_700_000_400]
    assert go.cron_next("0 0 * * *", reference, location="Asia/Tokyo", count=1) == [1_700_060_400]
    with pytest.raises(GoAsynqError) as bad:
        go.cron_next("bad", reference)
    assert bad.value.kind == "bad_spec"
