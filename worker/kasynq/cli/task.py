"""`kasynq task ls|inspect|deps|delete|run|archive|cancel`, one task or `--all` of a state."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import click

from kasynq.cli.output import emit, emit_message, emit_record
from kasynq.cli.session import Session, command_action
from kasynq.inspector import Inspector
from kasynq.task import TaskState

STATES = [state.value for state in TaskState]
LIST_COLUMNS = {
    "pending": ["id", "type", "payload", "retried", "max_retry"],
    "active": ["id", "type", "payload", "deadline", "is_orphaned"],
    "scheduled": ["id", "type", "payload", "next_process_at"],
    "retry": ["id", "type", "payload", "next_process_at", "retried", "last_err"],
    "archived": ["id", "type", "payload", "last_failed_at", "last_err"],
    "completed": ["id", "type", "payload", "completed_at", "result"],
    "aggregating": ["id", "type", "payload", "group"],
}
BULK_STATES = {
    "run": ["scheduled", "retry", "archived", "aggregating"],
    "archive": ["pending", "scheduled", "retry", "aggregating"],
    "delete": ["pending", "scheduled", "retry", "archived", "completed", "aggregating"],
}
queue_option = click.option("--queue", "queue_name", required=True, help="Queue name.")
state_option = click.option("--state", type=click.Choice(STATES), help="Task state.")
group_option = click.option("--group", help="Aggregation group (state aggregating).")
id_option = click.option("--id", "task_id", required=True, help="Task ID.")


@click.group()
def task() -> None:
    """List, inspect and change tasks."""


def _require_group(state: str, group: str | None) -> list[str]:
    """Arguments that name the group, which the aggregating state needs."""
    if state != "aggregating":
        return []
    if not group:
        raise click.UsageError("--group is required with --state aggregating")
    return [group]


@task.command("ls")
@queue_option
@state_option
@group_option
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1))
@click.option("--size", default=30, show_default=True, type=click.IntRange(min=1))
@command_action
def list_tasks(
    session: Session, /, queue_name: str, state: str | None, group: str | None, page: int, size: int
) -> None:
    """Tasks of one state, in Go asynq's order and pages."""
    if state is None:
        raise click.UsageError("--state is required")
    with session.inspector() as inspector:
        lister: Callable[..., list[Any]] = getattr(inspector, f"list_{state}_tasks")
        tasks = lister(queue_name, *_require_group(state, group), page_size=size, page=page)
    rows = [{column: getattr(info, column) for column in LIST_COLUMNS[state]} for info in tasks]
    emit(session.output, rows, LIST_COLUMNS[state], payload=tasks)


@task.command("inspect")
@queue_option
@id_option
@command_action
def inspect_task(session: Session, /, queue_name: str, task_id: str) -> None:
    """Every field of one task."""
    with session.inspector() as inspector:
        emit_record(session.output, inspector.get_task_info(queue_name, task_id))


@task.command("deps")
@queue_option
@id_option
@command_action
def task_dependencies(session: Session, /, queue_name: str, task_id: str) -> None:
    """What a task waits for: each dependency and its state (waiting, completed, ...)."""
    with session.inspector() as inspector:
        edges = inspector.task_dependencies(queue_name, task_id)
    rows = [dataclasses.asdict(edge) for edge in edges]
    emit(session.output, rows, ["task_id", "queue", "state"], title=f"task {task_id} waits for")


def _register_change(verb: str, help_text: str) -> None:
    """`task VERB`: change one task by --id, or every task of a --state with --all."""

    @task.command(verb, help=help_text)
    @queue_option
    @click.option("--id", "task_id", help="Task ID.")
    @click.option("--all", "all_tasks", is_flag=True, help="Every task of --state.")
    @click.option("--state", type=click.Choice(BULK_STATES[verb]), help="State, with --all.")
    @group_option
    @command_action
    def change(
        session: Session,
        /,
        queue_name: str,
        task_id: str | None,
        all_tasks: bool,
        state: str | None,
        group: str | None,
    ) -> None:
        if all_tasks == bool(task_id):
            raise click.UsageError("give either --id or --all with --state")
        with session.inspector() as inspector:
            if task_id:
                getattr(inspector, f"{verb}_task")(queue_name, task_id)
                emit_message(
                    session.output,
                    f"task {task_id} in queue {queue_name}: {verb} done",
                    queue=queue_name,
                    id=task_id,
                    action=verb,
                )
                return
            if state is None:
                raise click.UsageError("--all needs --state")
            count = _bulk(inspector, verb, state, queue_name, group)
        emit_message(
            session.output,
            f"{verb}: {count} {state} tasks in queue {queue_name}",
            queue=queue_name,
            state=state,
            action=verb,
            count=count,
        )


def _bulk(inspector: Inspector, verb: str, state: str, queue_name: str, group: str | None) -> int:
    bulk: Callable[..., int] = getattr(inspector, f"{verb}_all_{state}_tasks")
    return bulk(queue_name, *_require_group(state, group))


_register_change("delete", "Delete a task, or all tasks of a state.")
_register_change("run", "Move a task (or all of a state) to pending now.")
_register_change("archive", "Archive a task, or all tasks of a state.")


@task.command("cancel")
@click.option("--id", "task_id", required=True, help="ID of an active task.")
@command_action
def cancel(session: Session, /, task_id: str) -> None:
    """Ask the server running an active task to cancel it."""
    with session.inspector() as inspector:
        inspector.cancel_processing(task_id)
    emit_message(session.output, f"cancellation of task {task_id} sent", id=task_id)
