"""Start system processes in their own process groups and always stop them again."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench import procs
from bench.systems import REPO_ROOT, Command

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 15.0


def _environment(command: Command) -> dict[str, str]:
    return {**os.environ, **command.env}


def run_to_end(command: Command, timeout: float) -> str:
    """Run a command to completion and return its stdout; raise with its stderr on failure."""
    result = subprocess.run(
        command.argv,
        input=command.stdin,
        env=_environment(command),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).decode(errors="replace").strip()
        log.warning("command failed argv=%s output=%s", command.argv, detail[-3000:])
        last_line = detail.splitlines()[-1] if detail else "no output"
        raise RuntimeError(f"{Path(command.argv[0]).name} exited {result.returncode}: {last_line}")
    return result.stdout.decode()


class ProcessGroup:
    """Worker processes, each the leader of its own session so its children stop with it."""

    def __init__(self, commands: list[Command], log_path: Path) -> None:
        self._commands = commands
        self._log_path = log_path
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        with self._log_path.open("ab") as log_file:
            for command in self._commands:
                process = subprocess.Popen(
                    command.argv,
                    stdin=subprocess.PIPE,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=_environment(command),
                    cwd=REPO_ROOT,
                    start_new_session=True,
                )
                self._processes.append(process)
                assert process.stdin is not None
                process.stdin.write(command.stdin)
                process.stdin.close()

    def pids(self) -> list[int]:
        """Every living process of the group, forked children included."""
        found: list[int] = []
        for process in self._processes:
            if process.poll() is None:
                found.extend(procs.tree(process.pid))
        return found

    def exited(self) -> str | None:
        """A description of the first process that has exited, if any."""
        for process in self._processes:
            if process.poll() is not None:
                return f"worker pid {process.pid} exited with {process.returncode}"
        return None

    def log_tail(self) -> str:
        """The last line of the workers' output (the whole log stays in the work directory)."""
        text = self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
        lines = text.strip().splitlines()
        return lines[-1] if lines else f"no output in {self._log_path}"

    def stop(self) -> None:
        """SIGTERM each session, wait, then SIGKILL what is left (idempotent)."""
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("worker did not stop on SIGTERM pid=%d: killing", process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._processes.clear()


@contextlib.contextmanager
def running(commands: list[Command], log_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(commands, log_path)
    try:
        group.start()
        yield group
    finally:
        group.stop()
