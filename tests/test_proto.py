"""The checked-in protobuf code matches asynq.proto, and asynq.proto matches asynq v0.26.0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from kasynq.proto import asynq_pb2

WORKER = Path(__file__).resolve().parents[1] / "worker"
PROTO = "kasynq/proto/asynq.proto"

# (message, field) -> (number, type name) as in hibiken/asynq v0.26.0 internal/proto/asynq.proto
GO_SCHEMA = {
    "TaskMessage": {
        "type": (1, "string"),
        "payload": (2, "bytes"),
        "id": (3, "string"),
        "queue": (4, "string"),
        "retry": (5, "int32"),
        "retried": (6, "int32"),
        "error_msg": (7, "string"),
        "timeout": (8, "int64"),
        "deadline": (9, "int64"),
        "unique_key": (10, "string"),
        "last_failed_at": (11, "int64"),
        "retention": (12, "int64"),
        "completed_at": (13, "int64"),
        "group_key": (14, "string"),
        "headers": (15, "map<string,string>"),
    },
    "ServerInfo": {
        "host": (1, "string"),
        "pid": (2, "int32"),
        "server_id": (3, "string"),
        "concurrency": (4, "int32"),
        "queues": (5, "map<string,int32>"),
        "strict_priority": (6, "bool"),
        "status": (7, "string"),
        "start_time": (8, "Timestamp"),
        "active_worker_count": (9, "int32"),
    },
    "WorkerInfo": {
        "host": (1, "string"),
        "pid": (2, "int32"),
        "server_id": (3, "string"),
        "task_id": (4, "string"),
        "task_type": (5, "string"),
        "task_payload": (6, "bytes"),
        "queue": (7, "string"),
        "start_time": (8, "Timestamp"),
        "deadline": (9, "Timestamp"),
    },
    "SchedulerEntry": {
        "id": (1, "string"),
        "spec": (2, "string"),
        "task_type": (3, "string"),
        "task_payload": (4, "bytes"),
        "enqueue_options": (5, "repeated string"),
        "next_enqueue_time": (6, "Timestamp"),
        "prev_enqueue_time": (7, "Timestamp"),
    },
    "SchedulerEnqueueEvent": {
        "task_id": (1, "string"),
        "enqueue_time": (2, "Timestamp"),
    },
}

_SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
}


def _type_name(field: object) -> str:
    """`string`, `map<string,int32>`, `repeated string`, `Timestamp`... of a FieldDescriptor."""
    message_type = getattr(field, "message_type", None)
    if message_type is not None and message_type.GetOptions().map_entry:
        key, value = message_type.fields_by_name["key"], message_type.fields_by_name["value"]
        return f"map<{_type_name(key)},{_type_name(value)}>"
    base = message_type.name if message_type is not None else _SCALARS[field.type]  # type: ignore[attr-defined]
    repeated = field.is_repeated  # type: ignore[attr-defined]
    return f"repeated {base}" if repeated else base


def _clear_json_names(messages: object) -> None:
    """protoc adds json_name to descriptor sets but not to the copy embedded in _pb2 modules."""
    for message in messages:  # type: ignore[attr-defined]
        for field in message.field:
            field.ClearField("json_name")
        _clear_json_names(message.nested_type)


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    """Compiling asynq.proto now yields the descriptor embedded in the checked-in asynq_pb2."""
    descriptor_set = tmp_path / "asynq.desc"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{WORKER}",
            f"--descriptor_set_out={descriptor_set}",
            str(WORKER / PROTO),
        ],
        check=True,
        capture_output=True,
    )
    compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes()).file[0]
    _clear_json_names(compiled.message_type)
    checked_in = descriptor_pb2.FileDescriptorProto.FromString(asynq_pb2.DESCRIPTOR.serialized_pb)
    assert compiled == checked_in, "asynq_pb2.py is stale: run `make proto` and commit"
    stub = (WORKER / "kasynq/proto/asynq_pb2.pyi").read_text()
    for message in compiled.message_type:
        assert f"class {message.name}(" in stub, "asynq_pb2.pyi is stale: run `make proto`"
        for field in message.field:
            assert f"{field.name.upper()}_FIELD_NUMBER" in stub, "asynq_pb2.pyi is stale"


@pytest.mark.parametrize("message_name", sorted(GO_SCHEMA))
def test_schema_matches_asynq_v0_26_0(message_name: str) -> None:
    descriptor = asynq_pb2.DESCRIPTOR.message_types_by_name[message_name]
    fields = {field.name: (field.number, _type_name(field)) for field in descriptor.fields}
    assert fields == GO_SCHEMA[message_name]
    assert asynq_pb2.DESCRIPTOR.package == "asynq"


def test_task_message_round_trip_keeps_every_field() -> None:
    msg = asynq_pb2.TaskMessage(
        type="email:send",
        payload=b"\x00\xff\xfe binary",
        id="0b0c1f5e-3c7a-4f7e-9d2a-2d6a1c1f9e11",
        queue="critical",
        retry=3,
        retried=1,
        error_msg="boom",
        timeout=60,
        deadline=1_900_000_000,
        unique_key="asynq:{critical}:unique:email:send:abc",
        last_failed_at=1_800_000_000,
        retention=3600,
        completed_at=1_800_000_100,
        group_key="g1",
        headers={"ключ": "värde", "trace": "1"},
    )
    assert asynq_pb2.TaskMessage.FromString(msg.SerializeToString()) == msg
