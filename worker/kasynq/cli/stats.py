"""`kasynq stats`: every queue's state counts, today's counts, latency and memory."""

from __future__ import annotations

from typing import Any

import click

from kasynq.broker.inspect import QueueInfo
from kasynq.cli.output import emit
from kasynq.cli.session import Session, command_action

QUEUE_COLUMNS = [
    "queue", "pending", "active", "scheduled", "retry", "archived", "completed",
    "aggregating", "processed", "failed", "latency", "memory_usage", "paused",
]  # fmt: skip


def queue_row(info: QueueInfo) -> dict[str, Any]:
    """One table row of a queue's state."""
    return {column: getattr(info, column) for column in QUEUE_COLUMNS}


@click.command()
@command_action
def stats(session: Session, /) -> None:
    """State counts of all queues, processed/failed today, latency, memory; Redis info."""
    with session.inspector() as inspector:
        infos = inspector.get_queue_infos()
        redis_info = inspector.redis_info()
    emit(
        session.output,
        [queue_row(info) for info in infos],
        QUEUE_COLUMNS,
        title="Queues",
        payload={"queues": infos, "redis": redis_info},
    )
    if session.output != "json":
        rows = [{"field": name, "value": value} for name, value in redis_info.items()]
        emit(session.output, rows, ["field", "value"], title="Redis")
