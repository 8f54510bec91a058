"""Listens on `asynq:cancel` and cancels matching running tasks (wire-protocol.md §8.11)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kasynq.broker import Broker
from kasynq.periodic import Background
from kasynq.redaction import describe

log = logging.getLogger(__name__)

RESUBSCRIBE_DELAY_SECONDS = 5.0


class Subscriber(Background):
    """Subscribes (retrying every 5 s) and calls `cancel(task_id)` for each message."""

    name = "subscriber"

    def __init__(
        self,
        broker: Broker,
        cancel: Callable[[str], bool],
        retry_delay: float = RESUBSCRIBE_DELAY_SECONDS,
    ) -> None:
        self._broker = broker
        self._cancel = cancel
        self._retry_delay = retry_delay
        self.subscribed = asyncio.Event()

    async def _run(self) -> None:
        while True:
            try:
                subscription = await self._broker.subscribe_cancellations()
            except Exception as exc:  # Go retries every 5 s
                log.warning("cannot subscribe to cancellations error=%s", describe(exc))
                await asyncio.sleep(self._retry_delay)
                continue
            self.subscribed.set()
            try:
                async for task_id in subscription:
                    if self._cancel(task_id):
                        log.info("task cancelled id=%s", task_id)
            except Exception as exc:  # resubscribe after a connection loss
                log.warning("cancellation subscription lost error=%s", describe(exc))
            finally:
                self.subscribed.clear()
                with contextlib.suppress(Exception):
                    await subscription.close()
            await asyncio.sleep(self._retry_delay)
