"""Background tasks of the server's components, and the fixed-period loop of Go's tickers.

Each background component of the server (forwarder, janitor, recoverer, heartbeater, ...) is
one `Periodic`; errors are logged and the loop carries on, as Go's components do.

Stopping never trusts a single `cancel()`: on Python 3.11, `asyncio.wait_for` (which redis-py
uses to send every command when a socket timeout is set, as by default since redis-py 6)
swallows a cancellation that arrives in the loop turn its inner operation completes, and the
loop then simply carries on. `stop` re-cancels until the task ends and gives up after a bound,
and `finish_within` bounds any shutdown step the same way: Go abandons stuck goroutines too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kasynq.errors import is_queue_fault
from kasynq.redaction import describe

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 2.0
"""How long `Background.stop` waits for its task before abandoning it."""
RECANCEL_INTERVAL_SECONDS = 0.05
"""How often a task that ignored its cancellation is cancelled again."""


async def cancel_and_wait(task: asyncio.Task[Any], name: str, within: float) -> bool:
    """Cancel `task` (again and again) until it ends or `within` s pass; False if abandoned."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("abandoning a task that ignores cancellation name=%s", name)
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(remaining, RECANCEL_INTERVAL_SECONDS))
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.warning("task failed while stopping name=%s error=%s", name, describe(error))
    return True


async def finish_within(name: str, step: Awaitable[object], within: float) -> bool:
    """Run `step` in its own task for at most `within` s, then cancel and abandon it.

    Waiting with `asyncio.wait` cannot be defeated by a swallowed cancellation, unlike
    `asyncio.timeout`. Returns False (after logging) when the step failed or was abandoned.
    """
    task = asyncio.ensure_future(step)
    await asyncio.wait({task}, timeout=max(0.0, within))
    if not task.done():
        task.cancel()
        log.warning(
            "abandoned a step that did not finish in time step=%s within=%.1fs", name, within
        )
        return False
    if task.cancelled():
        return False
    error = task.exception()
    if error is not None:
        log.warning("step failed step=%s error=%s", name, describe(error))
        return False
    return True


async def each_queue(
    component: str, queues: Sequence[str], work: Callable[[str], Awaitable[object]]
) -> None:
    """`work(queue)` for every queue in turn. A queue whose keys Redis refuses (WRONGTYPE) is
    logged and skipped, so one broken queue does not hold up the others; any other error
    (Redis unreachable) ends the run, to be logged once by its `Periodic`."""
    for queue in queues:
        try:
            await work(queue)
        except Exception as exc:
            if not is_queue_fault(exc):
                raise
            log.error("%s run failed queue=%s error=%s", component, queue, describe(exc))


class Background:
    """One long-running asyncio task of a component, started once and cancelled by `stop`."""

    name = "background"
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"kasynq-{self.name}")

    async def stop(self, within: float = STOP_TIMEOUT_SECONDS) -> None:
        """Cancel the task and wait for it, at most `within` s (then it is abandoned)."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, self.name, within)

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
                log.error("%s run failed error=%s", self.name, describe(exc))
            await asyncio.sleep(self._interval)
