"""Running `kasynq` in-process (click's CliRunner) against a Redis URL."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from kasynq.cli import main


def kasynq(redis_url: str, *args: str, output: str = "table", cluster: bool = False) -> Result:
    """`kasynq --redis-url URL [--cluster] -o OUTPUT ARGS...`; stdout and stderr kept apart."""
    runner = CliRunner()
    options = ["--redis-url", redis_url, *(["--cluster"] if cluster else []), "-o", output]
    return runner.invoke(main, [*options, *args])


def kasynq_json(redis_url: str, *args: str, cluster: bool = False) -> Any:
    """The parsed JSON output of a command that must succeed."""
    result = kasynq(redis_url, *args, output="json", cluster=cluster)
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return json.loads(result.stdout)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of rich tables in `text`, as lists of stripped cells.

    A line whose first cell is blank continues the row above (a wrapped cell), so the first
    column of the tables read this way must never be blank.
    """
    rows: list[list[str]] = []
    for line in text.splitlines():
        if not line.strip().startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if rows and not cells[0] and len(cells) == len(rows[-1]):
            rows[-1] = [" ".join(filter(None, pair)) for pair in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows
