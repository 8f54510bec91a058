"""The operator process's own surface: the CLI and its /metrics and /healthz endpoint."""

from __future__ import annotations

import asyncio
import urllib.request

from click.testing import CliRunner
from kasynq_operator.httpendpoint import start_http
from kasynq_operator.main import main

from tests.fixtures.redis import free_port


async def test_metrics_and_healthz_are_served() -> None:
    port = free_port()
    runner = await start_http(port, host="127.0.0.1")
    try:

        def get(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
                return reply.status, reply.read().decode()

        status, body = await asyncio.to_thread(get, "/metrics")
        assert status == 200
        assert "kasynq_operator_decision_seconds" in body
        assert "kasynq_operator_redis_poll_seconds" in body
        assert await asyncio.to_thread(get, "/healthz") == (200, "ok\n")
    finally:
        await runner.cleanup()


def test_namespace_options_exclude_each_other() -> None:
    result = CliRunner().invoke(main, ["-n", "team-a", "--all-namespaces"])
    assert result.exit_code == 2
    assert "exclude each other" in result.output
