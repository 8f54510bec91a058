"""Running `kasynq` in-process (click's CliRunner) against a Redis URL."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result
from kasynq.cli import main


def kasynq(redis_url: str, *args: str, output: str = "table") -> Result:
    """`kasynq --redis-url URL -o OUTPUT ARGS...`; the result keeps stdout and stderr apart."""
    runner = CliRunner()
    return runner.invoke(main, ["--redis-url", redis_url, "-o", output, *args])


def kasynq_json(redis_url: str, *args: str) -> Any:
    """The parsed JSON output of a command that must succeed."""
    result = kasynq(redis_url, *args, output="json")
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return json.loads(result.stdout)
