"""`kasynq server ls`, `kasynq group ls` and `kasynq cron ls|history`."""

from __future__ import annotations

import click

from kasynq.cli.output import emit
from kasynq.cli.session import Session, command_action


@click.group()
def server() -> None:
    """Worker servers (Go or Python) alive on this Redis."""


@server.command("ls")
@command_action
def list_servers(session: Session, /) -> None:
    """Servers with their queues and busy/idle workers."""
    with session.inspector() as inspector:
        servers = inspector.servers()
    rows = [
        {
            "host": info.host,
            "pid": info.pid,
            "id": info.id,
            "status": info.status,
            "queues": ", ".join(f"{name}={weight}" for name, weight in info.queues.items()),
            "busy": f"{len(info.active_workers)}/{info.concurrency}",
            "started": info.started,
        }
        for info in servers
    ]
    columns = ["host", "pid", "id", "status", "queues", "busy", "started"]
    emit(session.output, rows, columns, payload=servers)


@click.group()
def group() -> None:
    """Aggregation groups."""


@group.command("ls")
@click.option("--queue", "queue_name", required=True, help="Queue name.")
@command_action
def list_groups(session: Session, /, queue_name: str) -> None:
    """Groups of a queue and how many tasks each holds."""
    with session.inspector() as inspector:
        groups = inspector.groups(queue_name)
    rows = [{"group": info.group, "size": info.size} for info in groups]
    emit(session.output, rows, ["group", "size"], payload=groups)


@click.group()
def cron() -> None:
    """Periodic tasks registered by live schedulers."""


@cron.command("ls")
@command_action
def list_entries(session: Session, /) -> None:
    """Scheduler entries with their spec, task and next/previous fire times."""
    with session.inspector() as inspector:
        entries = inspector.scheduler_entries()
    rows = [
        {
            "id": entry.id,
            "spec": entry.spec,
            "type": entry.task_type,
            "payload": entry.task_payload,
            "options": ", ".join(entry.options),
            "next": entry.next,
            "prev": entry.prev,
        }
        for entry in entries
    ]
    columns = ["id", "spec", "type", "payload", "options", "next", "prev"]
    emit(session.output, rows, columns, payload=entries)


@cron.command("history")
@click.argument("entry_id")
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--size", default=30, show_default=True, type=click.IntRange(min=1))
@command_action
def entry_history(session: Session, /, entry_id: str, page: int, size: int) -> None:
    """Enqueue events of one entry, newest first."""
    with session.inspector() as inspector:
        events = inspector.list_scheduler_enqueue_events(entry_id, page_size=size, page=page)
    rows = [{"task_id": event.task_id, "enqueued_at": event.enqueued_at} for event in events]
    emit(session.output, rows, ["task_id", "enqueued_at"], payload=events)
