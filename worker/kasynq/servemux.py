"""Task routing by type with asynq's ServeMux rule, plus middleware and sync/async dispatch.

A pattern matches a task type exactly or as a prefix; the exact match wins, then the longest
matching prefix. Handlers take `(ctx, task)`; `async def` handlers run on the event loop, plain
functions run in the server's thread pool. Middlewares are functions from an async handler to an
async handler; the first one registered is the outermost, as in Go.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, TypeAlias

from kasynq.blocking import BLOCK_WARN_SECONDS, handler_name, warn_once
from kasynq.context import TaskContext
from kasynq.ratelimit import Rate, parse_rate
from kasynq.task import Task

AsyncHandler: TypeAlias = Callable[[TaskContext, Task], Awaitable[None]]
SyncHandler: TypeAlias = Callable[[TaskContext, Task], None]
Handler: TypeAlias = AsyncHandler | SyncHandler
Middleware: TypeAlias = Callable[[AsyncHandler], AsyncHandler]

handler_executor: contextvars.ContextVar[Executor | None] = contextvars.ContextVar(
    "kasynq_handler_executor", default=None
)
"""Thread pool for sync handlers; set by the processor (None = the loop's default executor)."""


class HandlerNotFound(Exception):  # Go: `handler not found for task "<type>"`
    """No registered pattern matches the task type."""

    def __init__(self, task_type: str) -> None:
        super().__init__(f'handler not found for task "{task_type}"')
        self.task_type = task_type


def is_async_handler(handler: Callable[..., Any]) -> bool:
    """True for `async def` functions and objects whose `__call__` is `async def`."""
    call = getattr(handler, "__call__", None)  # noqa: B004 - we need the bound method itself
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def as_async(handler: Handler) -> AsyncHandler:
    """An async view of `handler`: sync ones run in `handler_executor` with a copied context."""
    if is_async_handler(handler):
        return handler  # type: ignore[return-value]
    sync_handler: SyncHandler = handler  # type: ignore[assignment]

    @functools.wraps(sync_handler)
    async def run_in_thread(ctx: TaskContext, task: Task) -> None:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        running = [False, False]  # started, ended: set by the thread (plain stores, no lock)

        def call() -> None:
            running[0] = True
            try:
                context.run(sync_handler, ctx, task)
            finally:
                running[1] = True

        try:
            await loop.run_in_executor(handler_executor.get(), call)
        except asyncio.CancelledError:  # deadline, cancellation or shutdown: the thread runs on
            loop.call_later(BLOCK_WARN_SECONDS, _warn_if_still_running, running, sync_handler, task)
            raise

    return run_in_thread


def _warn_if_still_running(running: list[bool], handler: SyncHandler, task: Task) -> None:
    """A sync handler that outlives its task holds a pool thread: name it once."""
    started, ended = running
    if started and not ended:
        warn_once(
            "thread",
            handler_name(handler, task.type),
            f"sync handler still running {BLOCK_WARN_SECONDS:g}s after its task ended "
            "(deadline, cancellation or shutdown) and holding a worker thread; poll ctx.done()",
            type=task.type,
        )


async def _not_found(ctx: TaskContext, task: Task) -> None:
    """Go's NotFoundHandler: fails the task; middlewares still see it."""
    del ctx
    raise HandlerNotFound(task.type)


class ServeMux:
    """Routes each task to the handler with the best matching pattern (Go's asynq.ServeMux)."""

    def __init__(self) -> None:
        self._exact: dict[str, AsyncHandler] = {}
        self._by_length: list[tuple[str, AsyncHandler]] = []
        self._middlewares: list[Middleware] = []
        self._rates: dict[str, Rate] = {}

    def handle(self, pattern: str, handler: Handler, *, rate: str | None = None) -> None:
        """Register `handler` for task types equal to or starting with `pattern`.

        `rate` ("100/s", "5/m", "1000/h") limits how often tasks of this registration start,
        across every kasynq server on the Redis (wire-protocol.md §16).
        """
        if not pattern.strip():
            raise ValueError(f"servemux: invalid pattern {pattern!r}: must not be blank")
        if pattern in self._exact:
            raise ValueError(f"servemux: multiple registrations for pattern {pattern!r}")
        if rate is not None:
            self._rates[pattern] = parse_rate(rate)
        wrapped = as_async(handler)
        self._exact[pattern] = wrapped
        self._by_length.append((pattern, wrapped))
        self._by_length.sort(key=lambda entry: len(entry[0]), reverse=True)

    def handler(self, pattern: str, *, rate: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator form of `handle`: `@mux.handler("email:")`."""

        def register(function: Handler) -> Handler:
            self.handle(pattern, function, rate=rate)
            return function

        return register

    def use(self, *middlewares: Middleware) -> None:
        """Append middlewares; they wrap every handler, first registered outermost."""
        self._middlewares.extend(middlewares)

    def match(self, task_type: str) -> AsyncHandler | None:
        """The handler for `task_type` (exact match, else longest prefix), without middleware."""
        exact = self._exact.get(task_type)
        if exact is not None:
            return exact
        for pattern, handler in self._by_length:
            if task_type.startswith(pattern):
                return handler
        return None

    def rate_for(self, task_type: str) -> tuple[str, Rate] | None:
        """(pattern, rate) of the registration `task_type` is routed to, if it is limited."""
        if not self._rates:
            return None
        if task_type in self._exact:
            pattern: str | None = task_type
        else:
            pattern = next((p for p, _ in self._by_length if task_type.startswith(p)), None)
        rate = self._rates.get(pattern) if pattern is not None else None
        return (pattern, rate) if pattern is not None and rate is not None else None

    async def __call__(self, ctx: TaskContext, task: Task) -> None:
        """Process `task` with its handler (or the not-found handler) inside the middlewares."""
        handler = self.match(task.type) or _not_found
        for middleware in reversed(self._middlewares):
            handler = middleware(handler)
        await handler(ctx, task)
