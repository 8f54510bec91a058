"""Bring Python objects and goasynq's JSON to one plain form, so tests compare field by field.

Times become float Unix seconds, durations float seconds, enums their string value; Go's
base64 byte fields become bytes, and a missing result (None in Python, empty in Go) is b"".
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timedelta
from typing import Any

from devenv.goasynq import b64decode

GO_BYTES_FIELDS = frozenset({"payload", "result", "task_payload"})
NEXT_PROCESS_AT_TOLERANCE = 5.0
"""Go and Python put "now" in NextProcessAt of pending tasks, each at its own read time."""


def plain(value: Any) -> Any:
    """A Python value (dataclasses, datetimes, enums...) as JSON-like plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def go_plain(value: Any) -> Any:
    """goasynq JSON with its base64 byte fields decoded."""
    if isinstance(value, dict):
        return {
            key: b64decode(item) if key in GO_BYTES_FIELDS else go_plain(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [go_plain(item) for item in value]
    return value


def task_info_diff(
    py_info: Any,
    go_info: dict[str, Any],
    *,
    ignore: tuple[str, ...] = (),
    next_process_at_tolerance: float = 0.0,
) -> dict[str, tuple[Any, Any]]:
    """Fields where a Python TaskInfo and Go's TaskInfo JSON differ: {field: (py, go)}.

    `next_process_at` of pending tasks may differ by the gap between the two reads; that of
    other tasks by `next_process_at_tolerance` (a client returns the exact process time, an
    inspector the whole seconds stored in the zset score).
    """
    py = plain(py_info)
    if py.get("result") is None:
        py["result"] = b""
    go = go_plain(go_info)
    diff: dict[str, tuple[Any, Any]] = {}
    for name in sorted(set(py) | set(go)):
        if name in ignore:
            continue
        py_value, go_value = py.get(name), go.get(name)
        if name == "next_process_at" and py_value is not None and go_value is not None:
            pending = py.get("state") == "pending"
            tolerance = NEXT_PROCESS_AT_TOLERANCE if pending else next_process_at_tolerance
            if abs(py_value - go_value) <= tolerance:
                continue
        if py_value != go_value:
            diff[name] = (py_value, go_value)
    return diff
