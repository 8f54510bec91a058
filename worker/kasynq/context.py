"""What a handler can know about the task it runs, and how it learns it should stop.

Go hands handlers a `context.Context` carrying the task metadata and a deadline; kasynq hands
them a `TaskContext`. Async handlers are cancelled (`asyncio.CancelledError`) at the deadline or
on cancellation; sync handlers run in a thread, cannot be interrupted, and should poll
`ctx.done()` (or call `ctx.raise_if_done()`) at convenient points.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kasynq.retry import TaskCanceled, TaskDeadlineExceeded

if TYPE_CHECKING:
    from kasynq.dependencies import DependencyReader, DependencyResult


class ResultWriter:
    """Writes the task's `result` field (Go's ResultWriter); refuses once the context is done."""

    __slots__ = ("_context", "_loop", "_write")

    def __init__(
        self, context: TaskContext, write: Callable[[str, str, bytes], Awaitable[int]]
    ) -> None:
        """`write(queue, task_id, data)` stores the bytes (the broker's write_result)."""
        self._context = context
        self._write = write
        self._loop = asyncio.get_running_loop()

    @property
    def task_id(self) -> str:
        return self._context.task_id

    async def write(self, data: bytes) -> int:
        """Store `data` as the task's result; returns the number of bytes written."""
        error = self._context.error()
        if error is not None:
            raise RuntimeError(f"failed to write task result: {error}")
        return await self._write(self._context.queue, self._context.task_id, data)

    def write_blocking(self, data: bytes) -> int:
        """`write` for sync handlers running in the worker thread pool (not on the loop)."""
        return asyncio.run_coroutine_threadsafe(self.write(data), self._loop).result()


@dataclass(eq=False)
class TaskContext:
    """Metadata of the running task and its stop signal (Go: GetTaskID, GetRetryCount, ...)."""

    task_id: str
    queue: str
    retry_count: int
    max_retry: int
    deadline: float
    """Unix seconds after which the handler's result no longer counts."""
    _canceled: bool = field(default=False, repr=False)
    """Set from the loop, read from handler threads (a plain bool: atomic in CPython)."""
    result_writer: ResultWriter | None = field(default=None, repr=False)
    dependency_reader: DependencyReader | None = field(default=None, repr=False)

    @property
    def deadline_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.deadline, UTC)

    def remaining(self) -> float:
        """Seconds until the deadline (negative once passed)."""
        return self.deadline - time.time()

    def cancel(self) -> None:
        """Mark the task cancelled (done by the server on `asynq:cancel`)."""
        self._canceled = True

    def error(self) -> Exception | None:
        """Why the context is done (cancellation wins over the deadline), or None."""
        if self._canceled:
            return TaskCanceled()
        if time.time() >= self.deadline:
            return TaskDeadlineExceeded()
        return None

    def done(self) -> bool:
        """True once the task is cancelled or past its deadline: a sync handler should return."""
        return self.error() is not None

    def raise_if_done(self) -> None:
        """Raise TaskCanceled / TaskDeadlineExceeded if the handler should stop."""
        error = self.error()
        if error is not None:
            raise error

    async def write_result(self, data: bytes) -> int:
        """Shortcut for `ctx.result_writer.write(data)`."""
        if self.result_writer is None:
            raise RuntimeError("this task context has no result writer")
        return await self.result_writer.write(data)

    async def dependency_results(self) -> list[DependencyResult]:
        """The tasks this one waited for (`depends_on`, a chain's previous step, a group's
        members), in the order given, with their outcome and `ResultWriter` bytes; [] when
        it waited for nothing (wire-protocol.md §13.8)."""
        if self.dependency_reader is None:
            raise RuntimeError("this task context has no dependency reader")
        return await self.dependency_reader.read(self.queue, self.task_id)

    def dependency_results_blocking(self) -> list[DependencyResult]:
        """`dependency_results` for sync handlers."""
        if self.dependency_reader is None:
            raise RuntimeError("this task context has no dependency reader")
        return self.dependency_reader.read_blocking(self.queue, self.task_id)
