"""Deletes completed tasks whose retention has expired, every 8 s (wire-protocol.md §8.10)."""

from __future__ import annotations

from collections.abc import Sequence

from kasynq.broker import Broker
from kasynq.periodic import Periodic, each_queue

DEFAULT_INTERVAL_SECONDS = 8.0
DEFAULT_BATCH_SIZE = 100


def janitor(broker: Broker, queues: Sequence[str], interval: float, batch_size: int) -> Periodic:
    """Go's janitor: first run after one interval, each queue cleaned in batches."""

    async def clean_one(queue: str) -> None:
        await broker.delete_expired_completed_tasks(queue, batch_size)

    async def clean() -> None:
        await each_queue("janitor", queues, clean_one)

    return Periodic("janitor", clean, interval)
