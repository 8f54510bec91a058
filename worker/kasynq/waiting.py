"""Waiting for a task's outcome: `info.wait(timeout)` (wire-protocol.md §14).

The TaskInfo an `enqueue` returns knows its client; `wait` reads the task hash on a tracked
connection (`broker/tracking.py`) and reads it again whenever Redis says it changed, whoever
changed it, plus once every `WAIT_RECHECK_SECONDS` in case tracking was lost. It returns the
result (None when none was kept) or raises the error of the final state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import fields
from typing import Final, TypeVar

import redis
import redis.cluster

from kasynq import keys
from kasynq.broker.core import decode_task_message
from kasynq.broker.tracking import AsyncTaskTracker, BlockingTaskTracker
from kasynq.connection import AsyncRedis
from kasynq.errors import KasynqError
from kasynq.task import TaskInfo, TaskState

WAIT_RECHECK_SECONDS = 1.0
"""Longest time between two reads of a waited-for task, whatever Redis told us."""


class TaskWaitError(KasynqError):
    """`wait` ended without a result; `info` is the task as last seen (None once it is gone)."""

    def __init__(self, message: str, task_id: str, queue: str, info: TaskInfo | None) -> None:
        super().__init__(f"{message}: queue={queue} id={task_id}")
        self.task_id = task_id
        self.queue = queue
        self.info = info


class TaskFailedError(TaskWaitError):
    """The task failed for good: archived after its retries (or `SkipRetry`); see `last_err`."""


class TaskArchivedError(TaskWaitError):
    """The task was archived without failing (by an Inspector)."""


class TaskDeletedError(TaskWaitError):
    """The task, enqueued with retention, is gone: deleted, or its retention ran out."""


class WaitTimeoutError(TaskWaitError, TimeoutError):
    """No final state within the timeout; `info` is the state last seen."""


class _Unsettled:
    """Marks a task not yet in a final state."""


UNSETTLED: Final = _Unsettled()


def settle(task: TaskInfo, reply: Sequence[bytes | None]) -> bytes | _Unsettled | None:
    """The result of `task` given its hash's `state, msg, result`, or UNSETTLED; raises the
    error of a final failure state."""
    state, data, result = reply
    if state is None:
        if task.retention:
            raise TaskDeletedError("task deleted", task.id, task.queue, None)
        return None  # gone without retention: completed (or deleted; the wire cannot tell)
    if state == b"completed":
        return result
    if state != b"archived":
        return UNSETTLED
    info = _info(state, data, result)
    if info is not None and info.last_err:
        raise TaskFailedError(f"task failed: {info.last_err}", task.id, task.queue, info)
    raise TaskArchivedError("task archived", task.id, task.queue, info)


def _info(state: bytes | None, data: bytes | None, result: bytes | None) -> TaskInfo | None:
    if state is None or data is None:
        return None
    msg = decode_task_message(data)
    state_name = TaskState(state.decode())
    return TaskInfo.from_message(msg, state_name, next_process_at=None, result=result)


def _until(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds: timeout={timeout!r}")
    return time.monotonic() + timeout if math.isfinite(timeout) else math.inf


def _step(
    task: TaskInfo, reply: Sequence[bytes | None], until: float
) -> tuple[bool, bytes | None, float]:
    """One turn of a wait: (settled, result, how long to listen for a change before reading
    again); raises the final state's error, or `WaitTimeoutError` once `until` passed."""
    outcome = settle(task, reply)
    if not isinstance(outcome, _Unsettled):
        return True, outcome, 0.0
    left = until - time.monotonic()
    if left <= 0:
        last = _info(*reply)
        state = last.state if last is not None else "unknown"
        raise WaitTimeoutError(f"no outcome in time, state={state}", task.id, task.queue, last)
    return False, None, min(left, WAIT_RECHECK_SECONDS)


_INFO_FIELDS = tuple(item.name for item in fields(TaskInfo))

_Bound = TypeVar("_Bound", bound=TaskInfo)


def _bound(cls: type[_Bound], info: TaskInfo, client: object) -> _Bound:
    """`info` as a `cls` waiting on `client`. An info made as `cls` already (`prepare`'s
    `info_type`, on every enqueue) is bound in place rather than copied field by field."""
    made = info if isinstance(info, cls) else cls(*[getattr(info, name) for name in _INFO_FIELDS])
    object.__setattr__(made, "_redis", client)  # frozen: set past the dataclass guard
    return made


class AsyncTaskInfo(TaskInfo):
    """The TaskInfo of `AsyncClient.enqueue`: `await info.wait(timeout)`. Its client is not a
    field: `dataclasses.fields`, `asdict` and JSON output see a plain TaskInfo."""

    __slots__ = ("_redis",)
    _redis: AsyncRedis

    @classmethod
    def of(cls, info: TaskInfo, client: AsyncRedis) -> AsyncTaskInfo:
        return _bound(cls, info, client)

    async def wait(self, timeout: float) -> bytes | None:  # noqa: ASYNC109 - the issue's API
        """The task's result once it completed (None if none was kept), else the final
        state's `TaskWaitError`; `WaitTimeoutError` after `timeout` seconds."""
        until = _until(timeout)
        tracker = AsyncTaskTracker(self._redis, keys.task_key(self.queue, self.id))
        try:
            while True:
                settled, result, within = _step(self, await tracker.read(), until)
                if settled:
                    return result
                await tracker.changed(within)
        finally:
            await tracker.close()


BlockingClient = redis.Redis | redis.cluster.RedisCluster


class WaitableTaskInfo(TaskInfo):
    """The TaskInfo of the blocking `Client.enqueue`: `info.wait(timeout)`."""

    __slots__ = ("_redis",)
    _redis: BlockingClient

    @classmethod
    def of(cls, info: TaskInfo, client: BlockingClient) -> WaitableTaskInfo:
        return _bound(cls, info, client)

    def wait(self, timeout: float) -> bytes | None:
        """`AsyncTaskInfo.wait`, blocking the calling thread."""
        until = _until(timeout)
        tracker = BlockingTaskTracker(self._redis, keys.task_key(self.queue, self.id))
        try:
            while True:
                settled, result, within = _step(self, tracker.read(), until)
                if settled:
                    return result
                tracker.changed(within)
        finally:
            tracker.close()
