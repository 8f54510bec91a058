"""`kasynq stats`: every queue's state counts, today's counts, latency and memory; a queue's
priority lanes are listed under it (wire-protocol.md §15)."""

from __future__ import annotations

from typing import Any

import click

from kasynq.broker.inspect import QueueInfo
from kasynq.cli.output import emit
from kasynq.cli.session import Session, command_action
from kasynq.lanes import lane_groups

QUEUE_COLUMNS = [
    "queue", "lane", "pending", "active", "scheduled", "retry", "archived", "completed",
    "aggregating", "processed", "failed", "latency", "memory_usage", "paused",
]  # fmt: skip


def queue_row(info: QueueInfo, lane: str = "") -> dict[str, Any]:
    """One table row of a queue's state; `lane`: its priority level when it has lanes."""
    return {column: lane if column == "lane" else getattr(info, column) for column in QUEUE_COLUMNS}


@click.command()
@command_action
def stats(session: Session, /) -> None:
    """State counts of all queues, processed/failed today, latency, memory; Redis info."""
    with session.inspector() as inspector:
        infos = inspector.get_queue_infos()
        redis_info = inspector.redis_info()
    by_name = {info.queue: info for info in infos}
    groups = lane_groups(by_name)  # a queue's lanes under it, highest first (§15)
    rows = [queue_row(by_name[name], lane) for group in groups.values() for name, lane in group]
    lanes = {base: [name for name, _ in group] for base, group in groups.items() if group[0][1]}
    emit(
        session.output,
        rows,
        QUEUE_COLUMNS,
        title="Queues",
        payload={"queues": infos, "lanes": lanes, "redis": redis_info},
    )
    if session.output != "json":
        rows = [{"field": name, "value": value} for name, value in redis_info.items()]
        emit(session.output, rows, ["field", "value"], title="Redis")
