"""Moves due scheduled and retry tasks to pending or their group, every 5 s (rdb.ForwardIfReady)."""

from __future__ import annotations

from collections.abc import Sequence

from kasynq.broker import Broker
from kasynq.periodic import Periodic, each_queue

DEFAULT_INTERVAL_SECONDS = 5.0


def forwarder(broker: Broker, queues: Sequence[str], interval: float) -> Periodic:
    """Go's forwarder: first run after one interval, ForwardIfReady over all queues."""

    async def forward() -> None:
        await each_queue("forwarder", queues, broker.forward_if_ready)

    return Periodic("forwarder", forward, interval)
