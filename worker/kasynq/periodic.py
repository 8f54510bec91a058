"""Background tasks of the server's components, and the fixed-period loop of Go's tickers.

Each background component of the server (forwarder, janitor, recoverer, heartbeater, ...) is
one `Periodic`; errors are logged and the loop carries on, as Go's components do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Background:
    """One long-running asyncio task of a component, started once and cancelled by `stop`."""

    name = "background"
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"kasynq-{self.name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        raise NotImplementedError


class Periodic(Background):
    """Calls `work()` after `first_delay` s, then every `interval` s after each run ends."""

    def __init__(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        interval: float,
        first_delay: float | None = None,
    ) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._first_delay = interval if first_delay is None else first_delay

    async def _run(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._work()
            except Exception as exc:  # keep the component alive, as Go does
                log.error("%s run failed error=%r", self.name, exc)
            await asyncio.sleep(self._interval)
