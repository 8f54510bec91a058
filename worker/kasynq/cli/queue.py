"""`kasynq queue ls|inspect|history|pause|unpause|rm`."""

from __future__ import annotations

import dataclasses

import click

from kasynq.cli.output import emit, emit_message, emit_record
from kasynq.cli.session import Session, command_action
from kasynq.lanes import lane_groups


@click.group()
def queue() -> None:
    """List, inspect, pause and remove queues."""


@queue.command("ls")
@command_action
def list_queues(session: Session, /) -> None:
    """Names of all queues, each queue's priority lanes under it."""
    with session.inspector() as inspector:
        names = inspector.queues()
    rows = [
        {"queue": name, "lane": lane}
        for group in lane_groups(names).values()
        for name, lane in group
    ]
    emit(session.output, rows, ["queue", "lane"], payload=names)


@queue.command("inspect")
@click.argument("queue_name", metavar="QUEUE")
@command_action
def inspect_queue(session: Session, /, queue_name: str) -> None:
    """Sizes by state, today's counts, latency and memory of one queue."""
    with session.inspector() as inspector:
        emit_record(session.output, inspector.get_queue_info(queue_name))


@queue.command("history")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--days", default=10, show_default=True, type=click.IntRange(1, 90))
@command_action
def queue_history(session: Session, /, queue_name: str, days: int) -> None:
    """Processed and failed counts per UTC day, newest first."""
    with session.inspector() as inspector:
        stats = inspector.history(queue_name, days)
    rows = [dataclasses.asdict(day) | {"date": day.date.strftime("%Y-%m-%d")} for day in stats]
    emit(session.output, rows, ["date", "processed", "failed"], payload=stats)


@queue.command("pause")
@click.argument("queue_name", metavar="QUEUE")
@command_action
def pause(session: Session, /, queue_name: str) -> None:
    """Stop servers from processing the queue's tasks."""
    with session.inspector() as inspector:
        inspector.pause_queue(queue_name)
    emit_message(session.output, f"queue {queue_name} paused", queue=queue_name, paused=True)


@queue.command("unpause")
@click.argument("queue_name", metavar="QUEUE")
@command_action
def unpause(session: Session, /, queue_name: str) -> None:
    """Let servers process the queue again."""
    with session.inspector() as inspector:
        inspector.unpause_queue(queue_name)
    emit_message(session.output, f"queue {queue_name} unpaused", queue=queue_name, paused=False)


@queue.command("rm")
@click.argument("queue_name", metavar="QUEUE")
@click.option("--force", is_flag=True, help="Remove even if the queue still has tasks.")
@command_action
def remove(session: Session, /, queue_name: str, force: bool) -> None:
    """Remove a queue (refused while it has tasks, unless --force)."""
    with session.inspector() as inspector:
        inspector.delete_queue(queue_name, force=force)
    emit_message(session.output, f"queue {queue_name} removed", queue=queue_name)
