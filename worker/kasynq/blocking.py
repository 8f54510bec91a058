"""Warnings about handlers that block: the event loop (async ones) or their thread (sync ones).

An async handler that calls blocking code stalls every other task, the heartbeat and the HTTP
endpoint; a sync handler that ignores `ctx.done()` keeps a pool thread after its task ended.
Neither is an error, so each is logged once per handler, naming it, with the task type.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
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


class LoopWatchdog:
    """A thread that notices the event loop not answering and names the task holding it.

    The loop re-arms a tick every TICK_SECONDS; when the tick is older than BLOCK_WARN_SECONDS
    and the same task was running at two samples in a row, `on_block(task)` is called from
    this thread. Nothing is added to the per-task path.
    """

    TICK_SECONDS = 0.25

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_block: Callable[[asyncio.Task[Any]], None]
    ) -> None:
        self._loop = loop
        self._on_block = on_block
        self._last_tick = time.monotonic()
        self._stopped = threading.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(
            target=self._watch, name="kasynq-loop-watchdog", daemon=True
        )

    def start(self) -> None:
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._timer = self._loop.call_later(self.TICK_SECONDS, self._tick)

    def _watch(self) -> None:
        previous: asyncio.Task[Any] | None = None
        while not self._stopped.wait(self.TICK_SECONDS):
            if time.monotonic() - self._last_tick <= BLOCK_WARN_SECONDS + self.TICK_SECONDS:
                previous = None
                continue
            running = asyncio.current_task(self._loop)  # a dict read; None if it cannot tell
            if running is not None and running is previous:
                self._on_block(running)
            previous = running
