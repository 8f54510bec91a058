"""Typed errors of the client, broker and inspector, mirroring Go asynq's error codes.

Go wraps broker failures as (op, code, message); `BrokerError` keeps the same three parts so
logs read alike, and callers catch the subclass for the case they care about.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from redis.exceptions import ResponseError


class ErrorCode(StrEnum):
    """Go's internal/errors codes, in their string form."""

    NOT_FOUND = "NOT_FOUND"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    INTERNAL = "INTERNAL_ERROR"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    UNKNOWN = "UNKNOWN"


class KasynqError(Exception):
    """Base of every error kasynq raises on purpose."""


class BrokerError(KasynqError):
    """A Redis operation failed; `op` names the broker method, `code` the Go error code."""

    code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN

    def __init__(self, op: str, message: str) -> None:
        super().__init__(f"{op}: {self.code}: {message}")
        self.op = op
        self.message = message


class ScriptError(BrokerError):
    """A Lua script returned an error reply (e.g. `NOT FOUND` when a task left `active`)."""

    code = ErrorCode.INTERNAL


class TaskIDConflictError(BrokerError):
    """A task with the same ID already exists in the queue (Go: ErrTaskIDConflict)."""

    code = ErrorCode.ALREADY_EXISTS

    def __init__(self, op: str, queue: str, task_id: str) -> None:
        super().__init__(op, f"task ID conflicts with another task: queue={queue} id={task_id}")
        self.queue = queue
        self.task_id = task_id


class DuplicateTaskError(BrokerError):
    """The unique lock of (queue, type, payload) is held (Go: ErrDuplicateTask)."""

    code = ErrorCode.ALREADY_EXISTS

    def __init__(self, op: str, unique_key: str) -> None:
        super().__init__(op, f"task already exists: unique_key={unique_key}")
        self.unique_key = unique_key


class QueueNotFoundError(BrokerError):
    """The queue is not registered in `asynq:queues` (Go: ErrQueueNotFound)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, op: str, queue: str) -> None:
        super().__init__(op, f"queue not found: queue={queue}")
        self.queue = queue


def is_queue_fault(error: object) -> bool:
    """An error reply about the keys of the command (e.g. WRONGTYPE), not the server's state:
    redis-py maps server-wide replies (READONLY, OOM, LOADING, NOSCRIPT, ...) to subclasses."""
    return type(error) is ResponseError


class QueueFaultError(BrokerError):
    """Redis refused an operation on one queue's keys (e.g. WRONGTYPE): that queue alone is
    at fault, the others can still be served."""

    code = ErrorCode.INTERNAL

    def __init__(self, op: str, queue: str, error: Exception) -> None:
        super().__init__(op, f"queue={queue}: {type(error).__name__}: {error}")
        self.queue = queue
        self.__cause__ = error


class QueueNotEmptyError(BrokerError):
    """The queue still holds tasks (Go: ErrQueueNotEmpty)."""

    code = ErrorCode.FAILED_PRECONDITION

    def __init__(self, op: str, queue: str) -> None:
        super().__init__(op, f"queue is not empty: queue={queue}")
        self.queue = queue


class TaskNotFoundError(BrokerError):
    """No task with that ID in the queue (Go: ErrTaskNotFound)."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, op: str, queue: str, task_id: str) -> None:
        super().__init__(op, f"task not found: queue={queue} id={task_id}")
        self.queue = queue
        self.task_id = task_id


class FailedPreconditionError(BrokerError):
    """The operation is not allowed in the task's or queue's current state."""

    code = ErrorCode.FAILED_PRECONDITION


class UnknownDependencyError(KasynqError, ValueError):
    """`depends_on` names a task that does not exist (wire-protocol.md §13.5)."""

    def __init__(self, queue: str, task_id: str) -> None:
        super().__init__(f"unknown dependency: task {task_id!r} in queue {queue!r}")
        self.queue = queue
        self.task_id = task_id


class DependencyCycleError(KasynqError, ValueError):
    """`depends_on` would make a task wait for itself (wire-protocol.md §13.5)."""

    def __init__(self, queue: str, task_id: str) -> None:
        super().__init__(
            f"dependency cycle: task {task_id!r} in queue {queue!r} would wait for itself"
        )
        self.queue = queue
        self.task_id = task_id
