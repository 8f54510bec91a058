"""The README's quick start runs as written, twice in a row, against a real Redis.

The Python blocks that start with `# <name>.py` are written to a directory; the shell block
after "Then, from the same directory" is run there line by line: `python ...` to completion,
`kasynq worker` until the enqueued task was handled (then SIGINT, as Ctrl-C), `kasynq stats`.
The only change is the Redis address: `localhost:6379` becomes the test server's.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import redis

from devenv.processes import wait_until
from devenv.redis_servers import RedisServer

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DEFAULT_ADDRESS = "localhost:6379"
BIN = Path(sys.executable).parent
_FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def quick_start() -> tuple[dict[str, str], list[str]]:
    """The quick start's files by name, and its shell commands (comments stripped)."""
    text = README.read_text()
    section = text[text.index("## Quick start") :]
    section = section[: section.index("\n## ", 1)]
    files: dict[str, str] = {}
    for language, body in _FENCE.findall(section):
        first = body.splitlines()[0]
        if language == "python" and re.fullmatch(r"# \w+\.py", first):
            files[first[2:]] = body
    run_block = section[section.index("Then, from the same directory") :]
    language, body = _FENCE.findall(run_block)[0]
    assert language == "sh"
    commands = [line.split("#")[0].strip() for line in body.splitlines()]
    return files, [command for command in commands if command]


def run_quick_start(workdir: Path, server: RedisServer) -> list[str]:
    """Run the commands in `workdir`; returns what each printed."""
    files, commands = quick_start()
    address = f"127.0.0.1:{server.port}"
    for name, body in files.items():
        (workdir / name).write_text(body.replace(DEFAULT_ADDRESS, address))
    env = {**os.environ, "KASYNQ_REDIS_URL": f"redis://{address}/0"}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)  # the worker must find tasks.py from its working directory
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        if argv[0] == "python":
            argv[0] = sys.executable
        if argv[:2] == ["kasynq", "worker"]:
            outputs.append(run_worker_until_idle(argv, workdir, env, server))
            continue
        done = subprocess.run(
            argv, cwd=workdir, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{command!r} failed: {done.stderr}"
        outputs.append(done.stdout)
    return outputs


def run_worker_until_idle(
    argv: list[str], workdir: Path, env: dict[str, str], server: RedisServer
) -> str:
    """Start the worker, wait until no task is pending or active, then Ctrl-C it."""
    worker = subprocess.Popen(
        argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        with server.client() as conn:
            wait_until(
                lambda: _processed_today(conn) >= 1 and _pending_or_active(conn) == 0,
                "the worker to handle the enqueued task",
                30,
                process=worker,
            )
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    return output


def _processed_today(conn: redis.Redis) -> int:
    keys = conn.keys("asynq:{default}:processed:*")
    return sum(int(conn.get(key) or 0) for key in keys if key.count(b":") == 3)


def _pending_or_active(conn: redis.Redis) -> int:
    return int(conn.llen("asynq:{default}:pending")) + int(conn.llen("asynq:{default}:active"))


def test_quick_start_runs_as_written_twice(
    redis_url: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    files, commands = quick_start()
    assert set(files) == {"tasks.py", "produce.py"}
    assert [c.split()[:2] for c in commands] == [
        ["python", "produce.py"],
        ["kasynq", "worker"],
        ["kasynq", "stats"],
    ]
    for attempt in (1, 2):
        produced, worked, stats = run_quick_start(tmp_path, redis_server)
        assert re.match(r"enqueued [0-9a-f-]{36} into default", produced), produced
        assert 'welcome email for {"user": 42}' in worked, worked
        assert "Traceback" not in worked
        assert "default" in stats
        with redis_server.client() as conn:
            assert _processed_today(conn) == attempt
