"""Rendering CLI results as a table (rich) or as JSON."""

from __future__ import annotations

import base64
import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

import click
from rich.console import Console
from rich.table import Table

TABLE = "table"
JSON = "json"


def jsonable(value: Any) -> Any:
    """A JSON-ready form: times as RFC 3339, durations as seconds, bytes as text or base64."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return printable_bytes(value)
    return value


def printable_bytes(data: bytes) -> str:
    """UTF-8 text when the bytes are text, else `base64:<...>` so nothing is lost."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(data).decode("ascii")


def cell(value: Any) -> str:
    """One table cell: short human forms of times, durations and bytes."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, timedelta):
        return f"{value.total_seconds():.2f}s"
    if isinstance(value, bytes):
        return printable_bytes(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def console() -> Console:
    """A console on the current stdout (so CliRunner and pipes see it), never wrapping."""
    return Console(file=sys.stdout, soft_wrap=True, width=200)


def emit(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    payload: Any = None,
) -> None:
    """Print `rows` as a table of `columns`, or `payload` (default: rows) as JSON."""
    if fmt == JSON:
        click.echo(json.dumps(jsonable(rows if payload is None else payload), indent=2))
        return
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column.replace("_", " ").upper())
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console().print(table)


def emit_record(fmt: str, record: Any) -> None:
    """Print one record (a dataclass) as a two-column table or as a JSON object."""
    data = jsonable(record)
    if fmt == JSON:
        click.echo(json.dumps(data, indent=2))
        return
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for field in dataclasses.fields(record):
        table.add_row(field.name, cell(getattr(record, field.name)))
    console().print(table)


def emit_message(fmt: str, message: str, **details: Any) -> None:
    """A one-line outcome (`message`), or `details` as a JSON object."""
    if fmt == JSON:
        click.echo(json.dumps(jsonable(details)))
    else:
        click.echo(message)
