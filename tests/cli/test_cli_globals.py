"""Global options reach every subcommand (the worker too); bad settings end in one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import redis
from click.testing import CliRunner
from kasynq import keys
from kasynq.cli import main
from kasynq.client import Client
from kasynq.task import Task

from tests.cli.clirun import kasynq, kasynq_json
from tests.test_server_process import spawn_kasynq, worker_processes

REPO = Path(__file__).resolve().parents[2]


__all__ = ["worker_processes"]  # the fixture, shared with the worker process tests


def run_kasynq(processes: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    """`kasynq ARGS` in a process, with no KASYNQ_REDIS_URL to fall back on."""
    env = {name: value for name, value in os.environ.items() if name != "KASYNQ_REDIS_URL"}
    return spawn_kasynq(processes, env, *args)


def wait_processed(redis_url: str, queue: str, worker: subprocess.Popen[bytes]) -> None:
    """Wait until `worker` has processed one task of `queue` (a `hold` of 0 s)."""
    deadline = time.monotonic() + 20
    with redis.Redis.from_url(redis_url) as conn:
        while conn.get(keys.processed_total_key(queue)) != b"1":
            assert worker.poll() is None, worker.communicate()[0].decode()
            assert time.monotonic() < deadline, "the worker never processed the task"
            time.sleep(0.1)


def test_global_redis_url_reaches_the_worker(
    redis_url: str, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    process = run_kasynq(
        worker_processes, "--redis-url", redis_url, "worker", "--handlers", "tests.server_app:mux"
    )
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("hold", b"0"))
    wait_processed(redis_url, "default", process)


def test_worker_bad_settings_end_in_one_line_exit_2(
    redis_url: str, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    out_of_range = redis_url.rsplit("/", 1)[0] + "/99"
    cases = {
        ("--redis-url", out_of_range, "worker"): "DB index is out of range",
        ("--redis-url", "http://127.0.0.1:1/0", "worker"): "http://127.0.0.1:1/0",
        ("--redis-url", redis_url, "worker", "--log-level", "verbose"): "log_level",
        ("--redis-url", redis_url, "--cluster", "worker"): "--cluster",
    }
    for args, named in cases.items():
        process = run_kasynq(worker_processes, *args, "--handlers", "tests.server_app:mux")
        output = process.communicate(timeout=30)[0].decode()
        assert process.returncode == 2, (args, output)
        assert output.count("\n") == 1 and named in output, (args, output)
        assert output.startswith("Error: ") and "Traceback" not in output


def test_bad_connection_settings_end_in_one_line_exit_2(redis_url: str) -> None:
    out_of_range = redis_url.rsplit("/", 1)[0] + "/99"
    cases = [
        (kasynq("http://127.0.0.1:1/0", "queue", "ls"), "schemes"),
        (kasynq(out_of_range, "queue", "ls"), "DB index is out of range"),
        (kasynq(redis_url, "queue", "ls", cluster=True), "not a Redis Cluster node"),
    ]
    for result, named in cases:
        assert result.exit_code == 2, (named, result.stderr, result.exception)
        assert result.stderr.count("\n") == 1 and named in result.stderr, result.stderr
        assert "Traceback" not in result.output


def test_output_option_after_the_subcommand(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("report", b""), task_id="t1")
    listing = ["task", "ls", "--queue", "default", "--state", "pending"]
    result = CliRunner().invoke(main, ["--redis-url", redis_url, *listing, "-o", "json"])
    assert result.exit_code == 0, (result.output, result.stderr)
    assert [task["id"] for task in json.loads(result.stdout)] == ["t1"]
    # the subcommand's -o wins over the global one
    assert kasynq_json(redis_url, "queue", "ls", "-o", "json") == ["default"]
    table = kasynq(redis_url, "queue", "ls", "-o", "table", output="json")
    assert table.exit_code == 0 and "QUEUE" in table.stdout
