"""`kasynq` subcommands on a real Redis: output, bulk actions and error exits."""

from __future__ import annotations

import redis
from kasynq.client import Client
from kasynq.task import Task

from tests.cli.clirun import kasynq, kasynq_json, table_rows


def test_enqueue_then_inspect_in_json(redis_url: str) -> None:
    info = kasynq_json(
        redis_url, "enqueue", "email:send", '{"to":"a@b"}', "--queue", "mail",
        "--max-retry", "3", "--timeout", "1m30s", "--header", "trace=abc",
    )  # fmt: skip
    assert info["queue"] == "mail" and info["max_retry"] == 3 and info["timeout"] == 90.0
    assert info["headers"] == {"trace": "abc"} and info["state"] == "pending"
    shown = kasynq_json(redis_url, "task", "inspect", "--queue", "mail", "--id", info["id"])
    assert shown["payload"] == '{"to":"a@b"}' and shown["type"] == "email:send"
    assert kasynq_json(redis_url, "queue", "ls") == ["mail"]


def test_enqueue_payload_from_file_and_binary_payload(redis_url: str, tmp_path: object) -> None:
    from pathlib import Path

    payload_file = Path(str(tmp_path)) / "payload.bin"
    payload_file.write_bytes(b"\xff\x00binary")
    info = kasynq_json(redis_url, "enqueue", "blob", f"@{payload_file}", "--process-in", "60")
    assert info["state"] == "scheduled"
    assert info["payload"].startswith("base64:")


def test_table_output_lists_tasks(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        for number in range(3):
            client.enqueue(Task("report", f"n{number}".encode()), task_id=f"t{number}")
    result = kasynq(redis_url, "task", "ls", "--queue", "default", "--state", "pending")
    assert result.exit_code == 0, result.output
    assert "ID" in result.stdout and "TYPE" in result.stdout
    for number in range(3):
        assert f"t{number}" in result.stdout


def test_bulk_actions_report_counts(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        for number in range(5):
            client.enqueue(Task("job", b""), task_id=f"p{number}")
    archived = kasynq_json(
        redis_url, "task", "archive", "--queue", "default", "--all", "--state", "pending"
    )
    assert archived == {"queue": "default", "state": "pending", "action": "archive", "count": 5}
    ran = kasynq_json(
        redis_url, "task", "run", "--queue", "default", "--all", "--state", "archived"
    )
    assert ran["count"] == 5
    deleted = kasynq_json(
        redis_url, "task", "delete", "--queue", "default", "--all", "--state", "pending"
    )
    assert deleted["count"] == 5
    info = kasynq_json(redis_url, "queue", "inspect", "default")
    assert info["size"] == 0


def test_pause_unpause_and_stats(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("job", b""), queue="q1")
    assert kasynq_json(redis_url, "queue", "pause", "q1") == {"queue": "q1", "paused": True}
    stats = kasynq_json(redis_url, "stats")
    assert [queue["queue"] for queue in stats["queues"]] == ["q1"]
    assert stats["queues"][0]["paused"] is True and stats["queues"][0]["pending"] == 1
    assert stats["redis"]["redis_version"].startswith(("7.", "8."))
    kasynq_json(redis_url, "queue", "unpause", "q1")
    table = kasynq(redis_url, "stats")
    assert table.exit_code == 0 and "q1" in table.stdout and "redis_version" in table.stdout


def test_unknown_queue_and_task_exit_2_with_one_line(redis_url: str) -> None:
    result = kasynq(redis_url, "queue", "inspect", "nope")
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "nope" in result.stderr
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("job", b""))
    result = kasynq(redis_url, "task", "inspect", "--queue", "default", "--id", "missing-id")
    assert result.exit_code == 2 and "missing-id" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_unreachable_redis_exit_1_names_url_without_password() -> None:
    url = "redis://user:s3cret@127.0.0.1:1/0"
    result = kasynq(url, "queue", "ls")
    assert result.exit_code == 1
    assert "redis://user:***@127.0.0.1:1/0" in result.stderr
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_bad_option_value_names_the_field(redis_url: str) -> None:
    result = kasynq(redis_url, "enqueue", "job", "--timeout", "soon")
    assert result.exit_code == 2 and "soon" in result.stderr
    result = kasynq(redis_url, "enqueue", "  ")
    assert result.exit_code == 2 and "type" in result.stderr


def test_queue_rm_refuses_non_empty_unless_forced(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("job", b""), queue="gone")
    refused = kasynq(redis_url, "queue", "rm", "gone")
    assert refused.exit_code == 1 and "gone" in refused.stderr
    assert kasynq(redis_url, "queue", "rm", "gone", "--force").exit_code == 0
    assert kasynq_json(redis_url, "queue", "ls") == []


def test_group_ls(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        for number in range(3):
            client.enqueue(Task("batch", str(number).encode()), group="g1")
    groups = kasynq_json(redis_url, "group", "ls", "--queue", "default")
    assert groups == [{"group": "g1", "size": 3}]
    listed = kasynq_json(
        redis_url, "task", "ls", "--queue", "default", "--state", "aggregating", "--group", "g1"
    )
    assert len(listed) == 3


def test_redis_py_client_not_left_connected(redis_url: str) -> None:
    before = redis.Redis.from_url(redis_url).info("clients")["connected_clients"]
    for _ in range(5):
        kasynq_json(redis_url, "queue", "ls")
    after = redis.Redis.from_url(redis_url).info("clients")["connected_clients"]
    assert after <= before + 1


def test_task_deps_shows_what_a_waiting_task_waits_for(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        first = client.enqueue(Task("first"), task_id="first")
        other = client.enqueue(Task("other"), queue="elsewhere", task_id="other")
        waiting = client.enqueue(Task("last"), depends_on=[first, other], task_id="waiting")
    shown = kasynq_json(redis_url, "task", "deps", "--queue", "default", "--id", waiting.id)
    assert shown == [
        {"task_id": "first", "queue": "default", "state": "waiting"},
        {"task_id": "other", "queue": "elsewhere", "state": "waiting"},
    ]
    result = kasynq(redis_url, "task", "deps", "--queue", "default", "--id", waiting.id)
    assert result.exit_code == 0, result.output
    assert ["first", "default", "waiting"] in table_rows(result.stdout)
    assert kasynq_json(redis_url, "task", "deps", "--queue", "default", "--id", "first") == []
