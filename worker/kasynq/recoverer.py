"""Retries or archives tasks whose lease expired (their worker died) every minute (Go's recoverer).

A task is recovered only once its lease has been expired for `grace` seconds (30 s in Go, the
allowance for clock skew between hosts), so live Go and Python workers are never robbed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from kasynq.broker import Broker
from kasynq.broker.quarantine import archive_undecodable
from kasynq.periodic import Periodic, each_queue
from kasynq.processor import task_from_message
from kasynq.redaction import describe
from kasynq.retry import IsFailureFunc, LeaseExpired, RetryDelayFunc

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0
DEFAULT_GRACE_SECONDS = 30.0


class Recoverer:
    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        retry_delay_func: RetryDelayFunc,
        is_failure: IsFailureFunc,
        grace: float = DEFAULT_GRACE_SECONDS,
    ) -> None:
        self._broker = broker
        self._queues = list(queues)
        self._retry_delay = retry_delay_func
        self._is_failure = is_failure
        self._grace = grace

    def periodic(self, interval: float) -> Periodic:
        """Runs at start, then every `interval` s."""
        return Periodic("recoverer", self.recover, interval, first_delay=0)

    async def recover(self) -> None:
        cutoff = time.time() - self._grace

        async def recover_queue(queue: str) -> None:
            await self._recover_queue(queue, cutoff)

        await each_queue("recoverer", self._queues, recover_queue)

    async def _recover_queue(self, queue: str, cutoff: float) -> None:
        await archive_undecodable(self._broker, [queue], cutoff)
        error = LeaseExpired()
        for msg in await self._broker.list_lease_expired(cutoff, queue):
            try:
                if msg.retried >= msg.retry:
                    await self._broker.archive(msg, str(error))
                else:
                    delay = self._retry_delay(msg.retried, error, task_from_message(msg))
                    await self._broker.retry(
                        msg, time.time() + delay, str(error), is_failure=self._is_failure(error)
                    )
                log.info("recovered task with expired lease id=%s queue=%s", msg.id, msg.queue)
            except Exception as exc:  # another server may have recovered it
                log.warning(
                    "recovery failed id=%s queue=%s error=%s", msg.id, msg.queue, describe(exc)
                )
        await self._broker.reclaim_stale_aggregation_sets(queue)
