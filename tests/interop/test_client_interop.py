"""Issue 3, items 1-3 and 6: tasks enqueued by kasynq and by Go asynq look the same to both.

Each option combination is enqueued once by Python and once by Go; each side's Inspector
reads the other's task field by field, the TaskInfo each client returns is the same, and the
Redis artefacts (keys, hash fields, message fields, lock TTLs) are the same apart from IDs.
Every test runs on standalone Redis and on Redis Cluster (`target`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from kasynq.errors import DuplicateTaskError, TaskIDConflictError
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.task import Task

from devenv.goasynq import GoAsynqError
from tests.interop.compare import plain, task_info_diff
from tests.interop.conftest import Target

pytestmark = pytest.mark.requires_go

NOW = int(time.time())
FUTURE = datetime.fromtimestamp(NOW + 3600, UTC)
LATER = datetime.fromtimestamp(NOW + 7200, UTC)
PAST = datetime.fromtimestamp(NOW - 60, UTC)
PAYLOAD = b"\x00binary\xff\xfe payload \xc3"
HEADERS = {"trace-id": "abc", "ключ": "значение ✓", "": "empty key"}

COMBINATIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "queue_retry_timeout": {"queue": "critical", "max_retry": 3, "timeout": 10},
    "timedelta_timeout": {"timeout": timedelta(minutes=2)},
    "deadline_only": {"deadline": LATER},
    "timeout_and_deadline": {"timeout": 30, "deadline": LATER},
    "subsecond_timeout": {"timeout": 0.5},
    "zero_retry": {"max_retry": 0},
    "task_id": {"task_id": "custom-id-1"},
    "unique": {"unique": 60},
    "unique_subsecond_rounding": {"unique": 90.7},
    "process_in": {"process_in": 120},
    "process_at_future": {"process_at": FUTURE},
    "process_at_past": {"process_at": PAST},
    "retention": {"retention": 3600},
    "group": {"group": "batch-1"},
    "group_process_in": {"group": "batch-1", "process_in": 60},
    "unique_process_in": {"unique": 60, "process_in": 30},
    "unique_group": {"unique": 60, "group": "batch-1"},
    "everything": {
        "queue": "low",
        "max_retry": 7,
        "timeout": 45,
        "deadline": LATER,
        "unique": 300,
        "task_id": "custom-id-2",
        "process_at": FUTURE,
        "retention": 600,
    },
}


def enqueue_py(target: Target, name: str, options: dict[str, Any]) -> Any:
    return target.client.enqueue(Task(f"combo:{name}", PAYLOAD, headers=HEADERS), **options)


def enqueue_go(target: Target, name: str, options: dict[str, Any]) -> dict[str, Any]:
    return target.go.enqueue(f"combo:{name}", PAYLOAD, headers=HEADERS, **options)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_go_inspector_reads_python_tasks(target: Target, name: str) -> None:
    info = enqueue_py(target, name, COMBINATIONS[name])
    go_info = target.go.inspect("task-info", info.queue, info.id)
    assert task_info_diff(info, go_info, next_process_at_tolerance=1.0) == {}
    assert task_info_diff(target.inspector.get_task_info(info.queue, info.id), go_info) == {}


@pytest.mark.parametrize("name", COMBINATIONS)
def test_python_inspector_reads_go_tasks(target: Target, name: str) -> None:
    go_info = enqueue_go(target, name, COMBINATIONS[name])
    info = target.inspector.get_task_info(go_info["queue"], go_info["id"])
    assert task_info_diff(info, go_info, next_process_at_tolerance=1.0) == {}
    assert task_info_diff(info, target.go.inspect("task-info", info.queue, info.id)) == {}


HEADERS_FIELD = 15


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7


def wire_fields(data: bytes) -> list[bytes]:
    """The raw bytes of each top-level protobuf field, in wire order, except that the map
    entries of `headers` are sorted (Go marshals map entries in random order)."""
    chunks: list[bytes] = []
    at = 0
    while at < len(data):
        start = at
        key, at = _varint(data, at)
        wire_type = key & 7
        if wire_type == 0:
            _, at = _varint(data, at)
        elif wire_type == 2:
            length, at = _varint(data, at)
            at += length
        else:
            raise AssertionError(f"unexpected wire type {wire_type} in a TaskMessage")
        chunks.append(data[start:at])
    in_order = [c for c in chunks if c[0] >> 3 != HEADERS_FIELD]
    return in_order + sorted(c for c in chunks if c[0] >> 3 == HEADERS_FIELD)


def redis_artefacts(target: Target, task_id: str) -> dict[str, Any]:
    """Every key with its type, TTL and content; the task ID replaced by `<id>`, the
    message decoded and as bytes without its ID, and pending_since as present/absent."""
    artefacts: dict[str, Any] = {}
    for raw_key in target.all_keys():
        key = raw_key.decode()
        kind = target.redis.type(raw_key).decode()
        ttl = target.redis.ttl(raw_key)
        if kind == "hash":
            fields = {k.decode(): v for k, v in target.redis.hgetall(raw_key).items()}
            raw_msg = fields.pop("msg", b"")
            msg = TaskMessage.FromString(raw_msg)
            msg.id = "<id>"
            content: Any = {
                "msg": MessageToDict(msg),
                # Same bytes, field by field, with the ID blanked to a same-length filler:
                # zero values omitted alike (checklist A2-A3; wire-protocol.md §3.7).
                "msg_bytes": wire_fields(
                    raw_msg.replace(task_id.encode(), b"#" * len(task_id.encode()))
                ),
                "fields": {
                    k: ("<ns>" if k == "pending_since" else v.decode().replace(task_id, "<id>"))
                    for k, v in fields.items()
                },
            }
        elif kind == "zset":
            content = [m.decode().replace(task_id, "<id>") for m in target.redis.zrange(key, 0, -1)]
        elif kind == "list":
            content = [m.decode().replace(task_id, "<id>") for m in target.redis.lrange(key, 0, -1)]
        elif kind == "set":
            content = sorted(m.decode() for m in target.redis.smembers(key))
        else:
            content = target.redis.get(raw_key).decode().replace(task_id, "<id>")
        artefacts[key.replace(task_id, "<id>")] = (kind, ttl, content)
    return artefacts


def without_ttls(artefacts: dict[str, Any]) -> dict[str, Any]:
    return {key: (kind, content) for key, (kind, _ttl, content) in artefacts.items()}


def ttl_gaps(first: dict[str, Any], second: dict[str, Any]) -> dict[str, int]:
    return {key: abs(first[key][1] - second[key][1]) for key in first.keys() & second.keys()}


@pytest.mark.parametrize("name", COMBINATIONS)
def test_python_and_go_enqueue_write_and_return_the_same(target: Target, name: str) -> None:
    options = COMBINATIONS[name]
    info = enqueue_py(target, name, options)
    py_redis = redis_artefacts(target, info.id)
    target.flush()
    go_info = enqueue_go(target, name, options)
    go_redis = redis_artefacts(target, go_info["id"])
    assert without_ttls(py_redis) == without_ttls(go_redis)
    # Go computes a unique lock's TTL as (process_at - a later now) + ttl, floored: it can be
    # one second shorter than ours (checklist B16; wire-protocol.md §6.2).
    assert max(ttl_gaps(py_redis, go_redis).values(), default=0) <= 1
    assert task_info_diff(info, go_info, ignore=("id",), next_process_at_tolerance=5.0) == {}
    if "task_id" not in options:
        assert len(info.id) == 36 and info.id.count("-") == 4  # a UUID, as Go's


@pytest.mark.parametrize("first", ["python", "go"])
def test_task_id_conflict_whichever_side_first(target: Target, first: str) -> None:
    if first == "python":
        target.client.enqueue(Task("a"), task_id="same")
        with pytest.raises(GoAsynqError) as go_error:
            target.go.enqueue("a", task_id="same")
        assert go_error.value.kind == "task_id_conflict"
    else:
        target.go.enqueue("a", task_id="same")
        with pytest.raises(TaskIDConflictError):
            target.client.enqueue(Task("a"), task_id="same")
    # The same ID in another queue is fine, from either side.
    target.client.enqueue(Task("a"), task_id="same", queue="other")
    target.go.enqueue("a", task_id="same", queue="third")


@pytest.mark.parametrize("first", ["python", "go"])
@pytest.mark.parametrize("payload", [b"same payload", b"", None], ids=["bytes", "empty", "nil"])
def test_unique_conflict_whichever_side_first(
    target: Target, first: str, payload: bytes | None
) -> None:
    if first == "python":
        info = plain(target.client.enqueue(Task("u", payload), unique=90))
        with pytest.raises(GoAsynqError) as go_error:
            target.go.enqueue("u", payload or b"", unique=90) if payload is not None else (
                target.go.run("enqueue", stdin={"type": "u", "unique": 90})
            )
        assert go_error.value.kind == "duplicate_task"
    else:
        if payload is None:
            info = target.go.run("enqueue", stdin={"type": "u", "unique": 90})
        else:
            info = target.go.enqueue("u", payload, unique=90)
        with pytest.raises(DuplicateTaskError):
            target.client.enqueue(Task("u", payload), unique=90)
    lock_keys = [k.decode() for k in target.all_keys("asynq:{default}:unique:*")]
    assert len(lock_keys) == 1
    lock = lock_keys[0]
    if payload is None:
        assert lock == "asynq:{default}:unique:u:"
    assert target.redis.get(lock).decode() == info["id"]
    assert 89 <= target.redis.ttl(lock) <= 90


@pytest.mark.parametrize("first", ["python", "go"])
def test_unique_and_task_id_conflict_keeps_the_lock(target: Target, first: str) -> None:
    """Checklist B18: ErrTaskIDConflict wins and the unique lock stays set (Go quirk)."""
    if first == "python":
        target.client.enqueue(Task("x"), task_id="dup")
        with pytest.raises(GoAsynqError) as go_error:
            target.go.enqueue("y", b"p", unique=60, task_id="dup")
        assert go_error.value.kind == "task_id_conflict"
    else:
        target.go.enqueue("x", task_id="dup")
        with pytest.raises(TaskIDConflictError):
            target.client.enqueue(Task("y", b"p"), unique=60, task_id="dup")
    (lock,) = target.all_keys("asynq:{default}:unique:y:*")
    assert target.redis.get(lock) == b"dup"


def test_negative_max_retry_go_stores_zero_python_refuses(target: Target) -> None:
    """Checklist B12: Go stores MaxRetry(-3) as 0; issue 3 asks Python to refuse it instead,
    so a Python producer never writes a retry count it did not mean (knowing divergence)."""
    assert target.go.enqueue("a", max_retry=-3)["max_retry"] == 0
    with pytest.raises(ValueError, match="max_retry"):
        target.client.enqueue(Task("a"), max_retry=-3)


def test_python_enqueue_readds_queue_after_go_delete_queue(target: Target) -> None:
    """Checklist B22: after Go's DeleteQueue a Python enqueue registers the queue again."""
    target.client.enqueue(Task("a"), queue="gone", task_id="t1")
    target.go.inspect("delete-task", "gone", "t1")
    target.go.inspect("delete-queue", "gone")
    assert "gone" not in target.go.inspect("queues")
    target.client.enqueue(Task("a"), queue="gone")
    assert "gone" in target.go.inspect("queues")
    assert target.go.inspect("queue-info", "gone")["pending"] == 1
