"""What a handler can know about the task it runs, and how it learns it should stop.

Go hands handlers a `context.Context` carrying the task metadata and a deadline; kasynq hands
them a `TaskContext`. Async handlers are cancelled (`asyncio.CancelledError`) at the deadline or
on cancellation; sync handlers run in a thread, cannot be interrupted, and should poll
`ctx.done()` (or call `ctx.raise_if_done()`) at convenient points.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kasynq.retry import TaskCanceled, TaskDeadlineExceeded


class ResultWriter:
    """Writes the task's `result` field (Go's ResultWriter); refuses once the context is done."""

    def __init__(
        self,
        task_id: str,
        write: Callable[[bytes], Awaitable[int]],
        context: TaskContext,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.task_id = task_id
        self._write = write
        self._context = context
        self._loop = loop

    async def write(self, data: bytes) -> int:
        """Store `data` as the task's result; returns the number of bytes written."""
        error = self._context.error()
        if error is not None:
            raise RuntimeError(f"failed to write task result: {error}")
        return await self._write(data)

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
    _canceled: threading.Event = field(default_factory=threading.Event, repr=False)
    result_writer: ResultWriter | None = field(default=None, repr=False)

    @property
    def deadline_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.deadline, UTC)

    def remaining(self) -> float:
        """Seconds until the deadline (negative once passed)."""
        return self.deadline - time.time()

    def cancel(self) -> None:
        """Mark the task cancelled (done by the server on `asynq:cancel`)."""
        self._canceled.set()

    def error(self) -> Exception | None:
        """Why the context is done (cancellation wins over the deadline), or None."""
        if self._canceled.is_set():
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
