"""Build and drive `goasynq`, our Go program around the real hibiken/asynq v0.26.0 library.

The program (tests/interop/cmd/goasynq, module tests/interop) is built once with `go build` into
`$KASYNQ_CACHE/go/` (default ~/.cache/kasynq/go), under a name keyed by a hash of the Go
sources, go.mod and go.sum, and reused while they are unchanged. Its subcommands read JSON
and print JSON; `GoAsynq.run` returns the parsed answer or raises `GoAsynqError` with the
error kind the program reported (`task_id_conflict`, `duplicate_task`, `queue_not_found`,
`task_not_found`, `queue_not_empty`, `usage`, `other`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULE_DIR = REPO_ROOT / "tests" / "interop"
PROGRAM_PACKAGE = "./cmd/goasynq"
EXPORTER_MODULE_DIR = MODULE_DIR / "exporter"
"""A second Go module: asynq's x/metrics exporter, to compare our exporter's output with."""
ASYNQMON_MODULE_DIR = MODULE_DIR / "asynqmon"
"""A third Go module: hibiken/asynqmon v0.7.2's HTTP handler, to check what it shows of our
state."""
BUILD_TIMEOUT_SECONDS = 600.0
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0


class GoAsynqError(Exception):
    """The Go program failed; `kind` is its error kind, `message` asynq's error text."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def cache_dir() -> Path:
    return Path(os.environ.get("KASYNQ_CACHE", "~/.cache/kasynq")).expanduser() / "go"


def _module_sources(module_dir: Path) -> list[Path]:
    """The module's .go files, leaving out nested Go modules (folders with their own go.mod)."""
    return sorted(
        path
        for path in module_dir.rglob("*.go")
        if not any(
            (folder / "go.mod").exists()
            for folder in path.parents
            if folder != module_dir and folder.is_relative_to(module_dir)
        )
    )


def source_hash(module_dir: Path = MODULE_DIR) -> str:
    """Hash of everything that determines a binary: go.mod, go.sum and every .go file."""
    digest = hashlib.sha256()
    files = [module_dir / "go.mod", module_dir / "go.sum", *_module_sources(module_dir)]
    for path in files:
        digest.update(str(path.relative_to(module_dir)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def build(
    module_dir: Path = MODULE_DIR, package: str = PROGRAM_PACKAGE, name: str = "goasynq"
) -> Path:
    """The path of the built program, building it first when the cache has no current copy.

    Builds `package` of the Go module in `module_dir` (default: goasynq). The binary is
    written under a temporary name and renamed, so concurrent builders never see a
    half-written file.
    """
    binary = cache_dir() / f"{name}-{source_hash(module_dir)}"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f"{binary.name}.{os.getpid()}.partial")
    env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    result = subprocess.run(
        ["nice", "-n", "10", "go", "build", "-o", str(partial), package],
        cwd=module_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"go build of {name} failed:\n{result.stderr}")
    partial.replace(binary)
    return binary


def build_exporter() -> Path:
    """The Go exporter program (tests/interop/exporter), built like `build()`."""
    return build(EXPORTER_MODULE_DIR, ".", "goexporter")


def build_asynqmon() -> Path:
    """asynqmon v0.7.2 (tests/interop/asynqmon, its UI embedded), built like `build()`."""
    return build(ASYNQMON_MODULE_DIR, ".", "goasynqmon")


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _unix(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
        return value.timestamp()
    return float(value)


DURATION_OPTIONS = ("timeout", "unique", "process_in", "retention")
TIME_OPTIONS = ("deadline", "process_at")
PLAIN_OPTIONS = ("queue", "max_retry", "task_id", "group")


def task_spec(
    task_type: str,
    payload: bytes = b"",
    headers: Mapping[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """The JSON the program expects for one task: options named as in Python, durations in
    seconds or timedelta, times as Unix seconds or aware datetimes. Absent options are not
    passed to Go at all."""
    spec: dict[str, Any] = {"type": task_type, "payload": b64encode(payload)}
    if headers is not None:
        spec["headers"] = dict(headers)
    for name, value in options.items():
        if value is None:
            continue
        if name in DURATION_OPTIONS:
            spec[name] = _seconds(value)
        elif name in TIME_OPTIONS:
            spec[name] = _unix(value)
        elif name in PLAIN_OPTIONS:
            spec[name] = value
        else:
            raise ValueError(f"unknown task option {name!r}")
    return spec


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode()


def b64decode(text: str | None) -> bytes:
    return base64.b64decode(text) if text else b""


@dataclass
class JsonProcess:
    """A long-running program that prints a JSON ready line: a goasynq server, scheduler or
    bench-server, or the Python twin server of tests/interop/pyserver.py."""

    process: subprocess.Popen[bytes]
    log_path: Path
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def running(self) -> bool:
        return self.process.poll() is None

    def stop_fetching(self) -> None:
        """SIGTSTP: asynq's Server.Stop (no new tasks, in-flight ones finish)."""
        self.process.send_signal(signal.SIGTSTP)

    def terminate(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """SIGTERM (graceful shutdown) and wait; SIGKILL if it does not exit in time."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.process.wait())

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is cleaned up in Redis."""
        if self.running():
            self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def wait_output(self, timeout: float) -> Any:
        """Wait for the process to exit by itself and return its final JSON line."""
        assert self.process.stdout is not None
        self.process.wait(timeout=timeout)
        lines = self.process.stdout.read().decode().splitlines()
        answer = json.loads(lines[-1]) if lines else None
        if self.process.returncode != 0:
            raise _error_from(answer, self.log)
        return answer

    def cleanup(self) -> None:
        with contextlib.suppress(OSError):
            self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log_path.unlink(missing_ok=True)


def _error_from(answer: Any, detail: str) -> GoAsynqError:
    if isinstance(answer, dict) and "error" in answer:
        return GoAsynqError(str(answer["error"]), str(answer.get("message", "")))
    return GoAsynqError("crash", detail[-4000:])


@dataclass
class GoAsynq:
    """The built program bound to one Redis (standalone URL or Cluster addresses).

    Every process it starts is tracked; `close()` (or leaving the `with` block) kills those
    still running.
    """

    binary: Path
    connection: list[str]
    processes: list[JsonProcess] = field(default_factory=list)

    @classmethod
    def standalone(cls, binary: Path, redis_url: str) -> GoAsynq:
        return cls(binary, ["-redis", redis_url])

    @classmethod
    def cluster(cls, binary: Path, addresses: list[tuple[str, int]]) -> GoAsynq:
        return cls(binary, ["-cluster", ",".join(f"{host}:{port}" for host, port in addresses)])

    def __enter__(self) -> GoAsynq:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        while self.processes:
            self.processes.pop().cleanup()

    def command(self, *args: str) -> list[str]:
        return [str(self.binary), *self.connection, *args]

    def run(self, *args: str, stdin: Any = None, timeout: float = 120.0) -> Any:
        """Run one subcommand to completion and return its parsed JSON answer."""
        result = subprocess.run(
            self.command(*args),
            input=b"" if stdin is None else json.dumps(stdin).encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        lines = result.stdout.decode().splitlines()
        answer = json.loads(lines[-1]) if lines else None
        if result.returncode != 0:
            raise _error_from(answer, result.stderr.decode(errors="replace"))
        return answer

    def enqueue(
        self,
        task_type: str,
        payload: bytes = b"",
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Go `Client.Enqueue`; returns Go's TaskInfo as JSON (see `task_spec`)."""
        answer: dict[str, Any] = self.run(
            "enqueue", stdin=task_spec(task_type, payload, headers, **options)
        )
        return answer

    def enqueue_many(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """One Go `Client.Enqueue` per spec in one process; [{"task": ...} | {"error": ...}]."""
        answer: list[dict[str, Any]] = self.run("enqueue", stdin=specs, timeout=600)
        return answer

    def inspect(
        self,
        verb: str,
        *args: str | int,
        page: int | None = None,
        size: int | None = None,
        group: str | None = None,
        force: bool = False,
    ) -> Any:
        """One Go Inspector call, e.g. inspect("list", "default", "pending", size=100)."""
        flags: list[str] = []
        if page is not None:
            flags += ["-page", str(page)]
        if size is not None:
            flags += ["-size", str(size)]
        if group is not None:
            flags += ["-group", group]
        if force:
            flags.append("-force")
        return self.run("inspect", *flags, verb, *(str(arg) for arg in args))

    def start(
        self,
        subcommand: str,
        stdin: Any,
        wait_ready: bool = True,
        timeout: float = READY_TIMEOUT_SECONDS,
    ) -> JsonProcess:
        """Start a long-running subcommand; with `wait_ready`, wait for its ready line."""
        return self._start_process(self.command(subcommand), subcommand, stdin, wait_ready, timeout)

    def start_program(self, binary: Path, *args: str) -> JsonProcess:
        """Another Go program taking goasynq's connection flags and printing a JSON ready line
        (goasynqmon, goexporter); tracked and killed like the others."""
        command = [str(binary), *self.connection, *args]
        return self._start_process(command, binary.name, None, True, READY_TIMEOUT_SECONDS)

    def start_py_server(self, **config: Any) -> JsonProcess:
        """kasynq's Server on the same Redis, configured and recording like `start_server`."""
        flag, address = self.connection
        command = [sys.executable, "-m", "tests.interop.pyserver", f"-{flag}", address]
        return self._start_process(command, "pyserver", config, True, READY_TIMEOUT_SECONDS)

    def _start_process(
        self, command: list[str], name: str, stdin: Any, wait_ready: bool, timeout: float
    ) -> JsonProcess:
        log_fd, log_name = tempfile.mkstemp(prefix=f"goasynq-{name}-", suffix=".log")
        with os.fdopen(log_fd, "wb") as log:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        go_process = JsonProcess(process, Path(log_name))
        self.processes.append(go_process)
        assert process.stdin is not None
        process.stdin.write(json.dumps(stdin).encode())
        process.stdin.close()
        if wait_ready:
            go_process.ready = self._read_ready(go_process, timeout)
        return go_process

    @staticmethod
    def _read_ready(go_process: JsonProcess, timeout: float) -> dict[str, Any]:
        assert go_process.process.stdout is not None
        stdout = go_process.process.stdout
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        text = line[0].decode() if line else ""
        answer = json.loads(text) if text.strip() else None
        if not isinstance(answer, dict) or not answer.get("ready"):
            go_process.kill()
            raise (
                _error_from(answer, go_process.log)
                if answer
                else RuntimeError(
                    f"goasynq did not become ready within {timeout}s:\n{go_process.log[-4000:]}"
                )
            )
        return answer

    def start_server(self, **config: Any) -> JsonProcess:
        """A Go asynq server; config keys as in cmd/goasynq/server.go (serverConfig)."""
        return self.start("server", config)

    def start_scheduler(self, entries: list[dict[str, Any]], **config: Any) -> JsonProcess:
        """A Go asynq Scheduler with entries of `{"spec": ..., **task_spec(...)}`."""
        return self.start("scheduler", {"entries": entries, **config})

    def cron_next(
        self, spec: str, reference: float, location: str = "UTC", count: int = 5
    ) -> list[int]:
        """Next `count` fire times (Unix s) of `spec` after `reference`, as Go's Scheduler."""
        query = {"spec": spec, "from": reference, "location": location, "n": count}
        (answer,) = self.run("cron-next", stdin=[query])
        if "error" in answer:
            raise GoAsynqError(answer["error"]["error"], answer["error"]["message"])
        return [int(t) for t in answer["next"]]
