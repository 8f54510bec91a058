"""`kasynq enqueue TYPE [PAYLOAD|@file]`: put one task on a queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from kasynq.cli.output import emit_record
from kasynq.cli.session import Session, command_action
from kasynq.goformat import parse_go_duration
from kasynq.task import Task


def parse_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A Go duration (`90s`, `1h30m`) or a number of seconds, as a timedelta."""
    if value is None:
        return None
    try:
        return timedelta(seconds=float(value))
    except ValueError:
        pass
    try:
        return timedelta(microseconds=parse_go_duration(value) // 1000)
    except ValueError:
        raise click.BadParameter(
            f"not a duration (e.g. 30s, 1h30m, or seconds): {value!r}"
        ) from None


def parse_time(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An ISO-8601 time with a zone (`2026-12-01T09:00:00+00:00`) or Unix seconds."""
    if value is None:
        return None
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time or Unix seconds: {value!r}") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"time needs a zone offset (e.g. +00:00): {value!r}")
    return moment


def read_payload(payload: str | None) -> bytes:
    """The payload bytes: the argument itself, or a file's contents for `@path`."""
    if payload is None:
        return b""
    if payload.startswith("@"):
        path = Path(payload[1:])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise click.BadParameter(f"cannot read payload file {path}: {exc.strerror}") from exc
    return payload.encode("utf-8")


def parse_headers(pairs: tuple[str, ...]) -> dict[str, str]:
    headers = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise click.BadParameter(f"header must be NAME=VALUE: {pair!r}", param_hint="--header")
        headers[name] = value
    return headers


@click.command()
@click.argument("task_type", metavar="TYPE")
@click.argument("payload", required=False)
@click.option("--queue", help="Queue name [default: default].")
@click.option("--max-retry", type=click.IntRange(min=0), help="Retries before archiving.")
@click.option("--timeout", callback=parse_duration, help="Per-attempt timeout.")
@click.option("--deadline", callback=parse_time, help="Absolute deadline of each attempt.")
@click.option("--unique", callback=parse_duration, help="Reject duplicates for this long.")
@click.option("--task-id", help="Task ID instead of a random UUID.")
@click.option("--process-at", callback=parse_time, help="Process no earlier than this time.")
@click.option("--process-in", callback=parse_duration, help="Process after this delay.")
@click.option("--retention", callback=parse_duration, help="Keep the completed task this long.")
@click.option("--group", help="Aggregation group.")
@click.option("--header", "headers", multiple=True, help="NAME=VALUE; repeatable.")
@command_action
def enqueue(
    session: Session,
    /,
    task_type: str,
    payload: str | None,
    headers: tuple[str, ...],
    **options: Any,
) -> None:
    """Enqueue a task of TYPE; PAYLOAD is text, or @FILE for a file's bytes."""
    given = {name: value for name, value in options.items() if value is not None}
    task = Task(task_type, read_payload(payload), headers=parse_headers(headers))
    with session.client() as client:
        info = client.enqueue(task, **given)
    emit_record(session.output, info)
