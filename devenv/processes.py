"""Processes for tests, benchmarks and the demo: free loopback ports, children that die with
us, stopping them, and waiting for a condition with a deadline."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port(bus_offset: int = 0) -> int:
    """A loopback port nothing listens on; with `bus_offset`, port + offset is free too.

    Redis Cluster nodes also listen on port + 10000 (the cluster bus), below 65536.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if not bus_offset:
            return port
        if port + bus_offset < 65536 and _port_is_free(port + bus_offset):
            return port


class WaitTimeout(TimeoutError):
    """A condition did not hold in time; the message names what was awaited."""


def wait_until(
    condition: Callable[[], object],
    what: str,
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    process: subprocess.Popen[Any] | None = None,
    tolerate: tuple[type[BaseException], ...] = (),
) -> None:
    """Poll `condition` until it is true; raise WaitTimeout naming `what` after `timeout` s.

    With `process`, fail at once if it exits; exceptions of the `tolerate` types count as
    "not yet" (the last one is named in the timeout message).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        if process is not None and process.poll() is not None:
            raise WaitTimeout(f"{what}: the process exited with {process.returncode}")
        try:
            if condition():
                return
        except tolerate as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error is not None else ""
            raise WaitTimeout(f"timed out after {timeout:g}s waiting for {what}{detail}")
        time.sleep(interval)


def _die_with_parent() -> None:
    """In the child before exec: get SIGKILL when the parent dies (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn_child(
    command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a child process appending its output to `log_path`, in its own session (a
    terminal's Ctrl-C reaches only us, and we stop children in order) and killed if we die."""
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            list(command),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, wait up to `timeout` s, then SIGKILL; idempotent."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
