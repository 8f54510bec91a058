"""The client's option composition and validation, as Go's EnqueueContext (wire-protocol.md §7).

No Redis.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from kasynq.client import prepare
from kasynq.task import Task, TaskOptions, TaskState, new_task_id, options

NOW = datetime(2026, 2, 3, 10, 0, 0, 250_000, tzinfo=UTC)
NOW_S = 1770112800


def test_defaults_match_go() -> None:
    prepared = prepare(Task("email:send", b"{}"), TaskOptions(), NOW)
    msg, info, write = prepared.write.msg, prepared.info, prepared.write
    assert (msg.queue, msg.retry, msg.timeout, msg.deadline, msg.retention) == (
        "default",
        25,
        1800,
        0,
        0,
    )
    assert uuid.UUID(msg.id).version == 4
    assert (msg.unique_key, msg.group_key, msg.retried, msg.error_msg) == ("", "", 0, "")
    assert write.process_at is None and write.group is None and write.op == "enqueue"
    assert info.state is TaskState.PENDING and info.next_process_at == NOW
    assert (info.deadline, info.last_failed_at, info.completed_at, info.result) == (
        None,
        None,
        None,
        None,
    )
    assert info.timeout == timedelta(minutes=30) and info.max_retry == 25


def test_task_ids_are_random_version_4_uuids_in_canonical_form() -> None:
    ids = [new_task_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for task_id in ids:
        parsed = uuid.UUID(task_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == task_id
    # every bit outside version and variant varies across the sample
    varied = 0
    for task_id in ids:
        varied |= int(task_id.replace("-", ""), 16) ^ int(ids[0].replace("-", ""), 16)
    assert varied == (1 << 128) - 1 & ~(0xF << 76) & ~(0x3 << 62)


def test_deadline_only_leaves_timeout_zero_and_timeout_only_leaves_no_deadline() -> None:
    deadline = NOW + timedelta(hours=1, milliseconds=900)
    msg = prepare(Task("t"), options(deadline=deadline), NOW).write.msg
    assert (msg.timeout, msg.deadline) == (0, NOW_S + 3601)  # 10:00:00.25 + 1 h 0.9 s
    msg = prepare(Task("t"), options(timeout=90.7), NOW).write.msg
    assert (msg.timeout, msg.deadline) == (90, 0)
    msg = prepare(Task("t"), options(timeout=timedelta(minutes=2), deadline=deadline), NOW)
    assert (msg.write.msg.timeout, msg.write.msg.deadline) == (120, NOW_S + 3601)


def test_sub_second_timeout_is_given_but_stored_as_zero() -> None:
    msg = prepare(Task("t"), options(timeout=0.5), NOW).write.msg
    assert (msg.timeout, msg.deadline) == (0, 0)
    assert prepare(Task("t"), options(timeout=0), NOW).write.msg.timeout == 1800


def test_enqueue_options_override_task_options() -> None:
    task = Task("t", b"p", queue="low", max_retry=3, process_at=NOW + timedelta(hours=1))
    prepared = prepare(task, options(queue="high", process_in=0), NOW)
    assert prepared.write.msg.queue == "high" and prepared.write.msg.retry == 3
    assert prepared.info.state is TaskState.PENDING
    prepared = prepare(Task("t", process_in=60), options(max_retry=0), NOW)
    assert prepared.write.msg.retry == 0 and prepared.info.state is TaskState.SCHEDULED


def test_future_process_time_schedules_with_floored_score_and_lock_ttl() -> None:
    prepared = prepare(Task("t", b"x"), options(process_in=90.9, unique=timedelta(hours=1)), NOW)
    assert prepared.write.op == "schedule_unique"
    assert prepared.write.process_at == NOW_S + 91  # 10:00:00.25 + 90.9 s = 10:01:31.15
    assert prepared.write.unique_ttl == 3690
    assert prepared.info.next_process_at == NOW + timedelta(seconds=90.9)
    assert prepared.write.msg.unique_key == (
        "asynq:{default}:unique:t:9dd4e461268c8034f5c8564e155c67a6"
    )


def test_group_aggregates_unless_scheduled() -> None:
    prepared = prepare(Task("t"), options(group="g", unique=10), NOW)
    assert prepared.write.op == "add_to_group_unique" and prepared.write.unique_ttl == 10
    assert prepared.info.state is TaskState.AGGREGATING and prepared.info.next_process_at is None
    prepared = prepare(Task("t"), options(group="g", process_in=5), NOW)
    assert prepared.write.op == "schedule" and prepared.write.msg.group_key == "g"


def test_unique_key_uses_nil_or_md5_payload() -> None:
    nil = prepare(Task("t"), options(unique=5), NOW).write.msg.unique_key
    empty = prepare(Task("t", b""), options(unique=5), NOW).write.msg.unique_key
    assert nil == "asynq:{default}:unique:t:"
    assert empty == "asynq:{default}:unique:t:d41d8cd98f00b204e9800998ecf8427e"


def test_headers_and_retention_reach_the_message() -> None:
    prepared = prepare(Task("t", headers={"k": "ü"}), options(retention=timedelta(days=1)), NOW)
    assert dict(prepared.write.msg.headers) == {"k": "ü"}
    assert prepared.write.msg.retention == 86400
    assert prepared.info.headers == {"k": "ü"} and prepared.info.retention == timedelta(days=1)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Task(""), "type"),
        (lambda: Task("  "), "type"),
        (lambda: Task("t\udcff"), "type"),
        (lambda: Task("t", "text"), "payload"),  # type: ignore[arg-type]
        (lambda: Task("t", headers={"k": "\ud800"}), "headers"),
        (lambda: Task("t", headers={"\ud800": "v"}), "headers"),
        (lambda: options(queue=" "), "queue"),
        (lambda: options(queue="q\udc80"), "queue"),
        (lambda: options(max_retry=-1), "max_retry"),
        (lambda: options(max_retry=True), "max_retry"),
        (lambda: options(max_retry=2**31), "max_retry"),
        (lambda: options(timeout=2**70), "timeout"),
        (lambda: options(timeout=-1), "timeout"),
        (lambda: options(timeout=float("nan")), "timeout"),
        (lambda: options(retention=timedelta(seconds=-1)), "retention"),
        (lambda: options(unique=0.5), "unique"),
        (lambda: options(task_id=""), "task_id"),
        (lambda: options(group="\t"), "group"),
        (lambda: options(deadline=datetime(2030, 1, 1)), "deadline"),
        (lambda: options(process_at=NOW, process_in=5), "process_at"),
    ],
)
def test_bad_values_raise_value_error_naming_the_field(build: object, field: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=field):
        build()


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        options(colour="red")  # type: ignore[call-arg]
