"""Retry policy of the server: Go's default delay, the SkipRetry/RevokeTask sentinels, error text.

A handler signals "do not retry" by raising `SkipRetry` (the task is archived at once) and
"forget this task" by raising `RevokeTask` (the task is deleted and counted as processed), as
Go handlers do by returning errors wrapping `asynq.SkipRetry` / `asynq.RevokeTask`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeAlias

from kasynq.task import Task

SKIP_RETRY_TEXT = "skip retry for the task"
REVOKE_TASK_TEXT = "revoke task"
LEASE_EXPIRED_TEXT = "asynq: task lease expired"
DEADLINE_EXCEEDED_TEXT = "context deadline exceeded"
CANCELED_TEXT = "context canceled"

RetryDelayFunc: TypeAlias = Callable[[int, BaseException, Task], float]
"""(retried so far, error, task) → seconds to wait before the next attempt."""

IsFailureFunc: TypeAlias = Callable[[BaseException], bool]
"""Whether an error counts as a failure (increments `retried` and the failed counters)."""


class _SentinelError(Exception):
    """An error whose text ends with Go's sentinel text, as `fmt.Errorf("%s: %w", ...)` prints."""

    sentinel_text = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(f"{message}: {self.sentinel_text}" if message else self.sentinel_text)


class SkipRetry(_SentinelError):  # named after Go's asynq.SkipRetry
    """Raise from a handler to archive the task now, whatever retries are left."""

    sentinel_text = SKIP_RETRY_TEXT


class RevokeTask(_SentinelError):  # named after Go's asynq.RevokeTask
    """Raise from a handler to delete the task without retry or archive (counted as processed)."""

    sentinel_text = REVOKE_TASK_TEXT


class TaskDeadlineExceeded(Exception):  # mirrors Go's context.DeadlineExceeded
    """The task's timeout or deadline passed before the handler returned."""

    def __init__(self) -> None:
        super().__init__(DEADLINE_EXCEEDED_TEXT)


class TaskCanceled(Exception):  # mirrors Go's context.Canceled
    """The task was cancelled (Inspector CancelProcessing) before the handler returned."""

    def __init__(self) -> None:
        super().__init__(CANCELED_TEXT)


class LeaseExpired(Exception):  # mirrors Go's asynq ErrLeaseExpired
    """The worker lost its lease on the task; the recoverer will retry it."""

    def __init__(self) -> None:
        super().__init__(LEASE_EXPIRED_TEXT)


def _causes(error: BaseException) -> list[BaseException]:
    """The error and the chain of errors it was raised from (Go's `errors.Is` walk)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_skip_retry(error: BaseException) -> bool:
    return any(isinstance(cause, SkipRetry) for cause in _causes(error))


def is_revoke_task(error: BaseException) -> bool:
    return any(isinstance(cause, RevokeTask) for cause in _causes(error))


def default_retry_delay(retried: int, error: BaseException, task: Task) -> float:
    """Go's DefaultRetryDelayFunc: n^4 + 15 + rand[0, 30) * (n + 1) seconds, n = retried."""
    del error, task
    return float(retried**4 + 15 + random.randrange(30) * (retried + 1))


def default_is_failure(error: BaseException) -> bool:
    """Go's default IsFailure: every error is a failure."""
    del error
    return True


def error_text(error: BaseException) -> str:
    """The text stored in `error_msg`: the error's message, or its class name when empty."""
    return str(error) or type(error).__name__
