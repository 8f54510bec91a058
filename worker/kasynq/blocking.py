"""Warnings about handlers that block: the event loop (async ones) or their thread (sync ones).

An async handler that calls blocking code stalls every other task, the heartbeat and the HTTP
endpoint; a sync handler that ignores `ctx.done()` keeps a pool thread after its task ended.
Neither is an error, so each is logged once per handler, naming it, with the task type.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

log = logging.getLogger(__name__)

BLOCK_WARN_SECONDS = 1.0
"""A handler step on the loop, or a sync handler outliving its task, longer than this warns."""

_warned: set[tuple[str, str]] = set()
"""(kind, handler name) already warned about in this process; bounded by the handlers."""


def handler_name(handler: Callable[..., Any], task_type: str) -> str:
    """`module.qualname` of the handler serving `task_type` (through a ServeMux's `match`)."""
    match = getattr(handler, "match", None)
    target = (match(task_type) if callable(match) else None) or handler
    module = getattr(target, "__module__", None) or "?"
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{name}"


def warn_once(kind: str, name: str, message: str, **fields: object) -> None:
    """Log `message` with `handler=name` and `fields` the first time (kind, name) is seen."""
    if (kind, name) in _warned:
        return
    _warned.add((kind, name))
    extra = "".join(f" {key}={value}" for key, value in fields.items())
    log.warning("%s handler=%s%s", message, name, extra)


class StepTimer:
    """Drives a handler's awaitable, timing each step it runs on the loop (between two awaits).

    A step over BLOCK_WARN_SECONDS means the handler blocked the loop that long; `on_block`
    is then called with the step's duration. Costs two clock reads per step.
    """

    __slots__ = ("_on_block", "_steps")

    def __init__(self, awaitable: Awaitable[None], on_block: Callable[[float], None]) -> None:
        self._steps = awaitable.__await__()
        self._on_block = on_block

    def __await__(self) -> Generator[Any, None, None]:
        return self  # type: ignore[return-value]  # an iterator with send/throw/close

    def __iter__(self) -> StepTimer:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        return self._timed(self._steps.send, value)

    def throw(self, error: BaseException) -> Any:
        return self._timed(self._steps.throw, error)

    def close(self) -> None:
        self._steps.close()

    def _timed(self, step: Callable[[Any], Any], argument: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(argument)
        finally:
            elapsed = time.perf_counter() - started
            if elapsed > BLOCK_WARN_SECONDS:
                self._on_block(elapsed)
