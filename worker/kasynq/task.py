"""Tasks, their options and TaskInfo, with Go asynq's defaults and checks (wire-protocol.md §7).

Options are keyword arguments accepted both by `Task(...)` (defaults carried by the task) and
by `enqueue(...)` (overrides). Durations are seconds (int/float) or `timedelta`; times are
timezone-aware `datetime`s. Bad values raise `ValueError` naming the field and the value, and
no string that is not valid UTF-8 ever reaches a message (Go could not decode it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeAlias, TypedDict, Unpack

from kasynq.frozen import quick_init
from kasynq.lanes import checked_priority
from kasynq.proto.asynq_pb2 import TaskMessage

Duration: TypeAlias = int | float | timedelta
"""A duration: seconds, or a `timedelta`."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)
NO_DURATION = timedelta(0)
DEFAULT_MAX_RETRY = 25
MAX_RETRY_LIMIT = 2**31 - 1
"""Largest `max_retry` the message's int32 `retry` field holds (Go's int32() would wrap)."""
DEFAULT_TIMEOUT_SECONDS = 30 * 60
"""Timeout used when neither a timeout nor a deadline is given (Go: defaultTimeout)."""


def new_task_id() -> str:
    """A random (version 4) UUID string, as Go's `uuid.NewString()` gives every task.

    Formatted straight from `os.urandom` (fork- and thread-safe, nothing pooled): under half
    the cost of `str(uuid.uuid4())`, paid by every enqueue.
    """
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]  # RFC 4122 variant: the nibble's top bits are 10
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


class TaskState(StrEnum):
    """State of a task, as the task hash's `state` field; ordered as Go's enum (1..7)."""

    ACTIVE = "active"
    PENDING = "pending"
    SCHEDULED = "scheduled"
    RETRY = "retry"
    ARCHIVED = "archived"
    COMPLETED = "completed"
    AGGREGATING = "aggregating"


def check_utf8(name: str, value: object) -> str:
    """`value` as a str that encodes to UTF-8, else `ValueError` naming the field."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a str, got {type(value).__name__}: {name}={value!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} is not valid UTF-8: {name}={value!r}") from None
    return value


def _non_blank(name: str, value: object) -> str:
    text = check_utf8(name, value)
    if not text.strip():
        raise ValueError(f"{name} must contain one or more non-blank characters: {name}={text!r}")
    return text


def to_timedelta(name: str, value: object) -> timedelta:
    """A duration option as `timedelta`; rejects bools, NaN and infinities."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be seconds or a timedelta: {name}={value!r}")
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{name} is too long for a timedelta: {name}={value!r}") from None


def _aware(name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime: {name}={value!r}")
    return value


def _non_negative(name: str, value: object) -> timedelta:
    duration = to_timedelta(name, value)
    if duration < timedelta(0):
        raise ValueError(f"{name} must not be negative: {name}={value!r}")
    return duration


def unix_seconds(when: datetime) -> int:
    """Whole Unix seconds, floored as Go's `Time.Unix()`."""
    return (when - EPOCH) // ONE_SECOND


def whole_seconds(duration: timedelta) -> int:
    """Whole seconds truncated toward zero, as Go's `int64(d.Seconds())`."""
    return int(duration.total_seconds())


def message_headers(msg: TaskMessage) -> dict[str, str]:
    """The message's headers as a plain dict (skipping the slow conversion of an empty map)."""
    return dict(msg.headers) if msg.headers else {}


def _seconds(seconds: int) -> timedelta:
    return NO_DURATION if seconds == 0 else timedelta(seconds=seconds)


def from_unix_or_none(seconds: int) -> datetime | None:
    """A Unix-seconds message field as a UTC datetime; 0 means unset."""
    return None if seconds == 0 else EPOCH + timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """Enqueue options; None = not given. Validated and normalised on construction."""

    queue: str | None = None
    max_retry: int | None = None
    timeout: timedelta | None = None
    deadline: datetime | None = None
    unique: timedelta | None = None
    task_id: str | None = None
    process_at: datetime | None = None
    process_in: timedelta | None = None
    retention: timedelta | None = None
    group: str | None = None
    priority: str | None = None
    """Priority lane: "high", "default" or "low" (wire-protocol.md §15)."""

    def __post_init__(self) -> None:
        checks = {
            "queue": _non_blank,
            "task_id": _non_blank,
            "group": _non_blank,
            "timeout": _non_negative,
            "retention": _non_negative,
            "unique": _unique_ttl,
            "process_in": to_timedelta,
            "deadline": _aware,
            "process_at": _aware,
            "max_retry": _max_retry,
            "priority": checked_priority,
        }
        for name, check in checks.items():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check(name, value))
        if self.process_at is not None and self.process_in is not None:
            raise ValueError(
                "process_at and process_in are exclusive: "
                f"process_at={self.process_at!r} process_in={self.process_in!r}"
            )

    def overridden_by(self, overrides: TaskOptions) -> TaskOptions:
        """These options with every option given in `overrides` replacing ours.

        `process_at` and `process_in` are one option (as Go's ProcessAt/ProcessIn): giving
        either in `overrides` drops both of ours.
        """
        if overrides is NO_OPTIONS or overrides == NO_OPTIONS:  # `is`: the common case, fast
            return self
        given = {
            option.name: getattr(overrides, option.name)
            for option in fields(overrides)
            if getattr(overrides, option.name) is not None
        }
        if "process_at" in given or "process_in" in given:
            given.setdefault("process_at", None)
            given.setdefault("process_in", None)
        return replace(self, **given)


def _unique_ttl(name: str, value: object) -> timedelta:
    ttl = to_timedelta(name, value)
    if ttl < ONE_SECOND:
        raise ValueError(f"{name} TTL cannot be less than 1s: {name}={value!r}")
    return ttl


def _max_retry(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int: {name}={value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative: {name}={value!r}")
    if value > MAX_RETRY_LIMIT:
        raise ValueError(f"{name} must fit the message's int32 field: {name}={value!r}")
    return value


NO_OPTIONS = TaskOptions()
"""No option given (the common case, shared to keep enqueue cheap)."""


class OptionArgs(TypedDict, total=False):
    """The enqueue options as keyword arguments of `Task(...)` and `enqueue(...)`."""

    queue: str
    max_retry: int
    timeout: Duration
    deadline: datetime
    unique: Duration
    task_id: str
    process_at: datetime
    process_in: Duration
    retention: Duration
    group: str
    priority: str


_DURATION_OPTIONS = frozenset({"timeout", "unique", "process_in", "retention"})
_OPTION_NAMES = frozenset(OptionArgs.__annotations__)


def options(**given: Unpack[OptionArgs]) -> TaskOptions:
    """Validated `TaskOptions` from keyword arguments; None values count as not given."""
    if not given:
        return NO_OPTIONS
    unknown = sorted(set(given) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown task option(s): {', '.join(unknown)}")
    values: dict[str, object] = {
        name: to_timedelta(name, value) if name in _DURATION_OPTIONS else value
        for name, value in given.items()
        if value is not None
    }
    return TaskOptions(**values)  # type: ignore[arg-type]


class Task:
    """A unit of work: a type name, an opaque payload, optional headers and default options.

    `payload=None` (Go's nil) and `b""` differ only in the unique-lock key (wire-protocol.md §6.1).
    """

    __slots__ = ("headers", "options", "payload", "type")

    def __init__(
        self,
        type: str,
        payload: bytes | bytearray | None = None,
        headers: Mapping[str, str] | None = None,
        **opts: Unpack[OptionArgs],
    ) -> None:
        self.type = _non_blank("type", type)
        if isinstance(payload, bytearray):
            payload = bytes(payload)
        if payload is not None and not isinstance(payload, bytes):
            raise ValueError(
                f"payload must be bytes, got {type_name(payload)}: payload={payload!r}"
            )
        self.payload: bytes | None = payload
        self.headers: dict[str, str] = _checked_headers(headers)
        self.options = options(**opts)

    def __repr__(self) -> str:
        return f"Task(type={self.type!r}, payload={self.payload!r}, headers={self.headers!r})"


def type_name(value: object) -> str:
    return type(value).__name__


def _checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping):
        raise ValueError(f"headers must be a mapping of str to str: headers={headers!r}")
    return {
        check_utf8("headers key", key): check_utf8(f"headers[{key!r}]", value)
        for key, value in headers.items()
    }


@quick_init
@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A task and its metadata, field for field Go's `asynq.TaskInfo`; zero times are None."""

    id: str
    queue: str
    type: str
    payload: bytes
    headers: dict[str, str]
    state: TaskState
    max_retry: int
    retried: int
    last_err: str
    last_failed_at: datetime | None
    timeout: timedelta
    deadline: datetime | None
    group: str
    next_process_at: datetime | None
    is_orphaned: bool
    retention: timedelta
    completed_at: datetime | None
    result: bytes | None = field(default=None)

    @classmethod
    def from_message(
        cls,
        msg: TaskMessage,
        state: TaskState,
        *,
        next_process_at: datetime | None,
        result: bytes | None = None,
        is_orphaned: bool = False,
    ) -> TaskInfo:
        """Go's `newTaskInfo`: message fields plus state, next process time and result."""
        return cls(  # positional, in field order: this runs for every enqueued task
            msg.id,
            msg.queue,
            msg.type,
            msg.payload,
            message_headers(msg),
            state,
            msg.retry,
            msg.retried,
            msg.error_msg,
            from_unix_or_none(msg.last_failed_at),
            _seconds(msg.timeout),
            from_unix_or_none(msg.deadline),
            msg.group_key,
            next_process_at,
            is_orphaned,
            _seconds(msg.retention),
            from_unix_or_none(msg.completed_at),
            result,
        )
