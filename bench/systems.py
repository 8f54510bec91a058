"""The systems under test: how to run each one's producer and worker processes.

Python peers run from their own virtualenvs (bench/venvs.py) with the task modules in
bench/peers/; Go asynq is the interop program's `bench-produce` / `bench-worker`
(tests/interop/cmd/goasynq/bench_accounting.go); kasynq runs from the project's own venv.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench.venvs import ARQ_VENV, PEERS_VENV, Venv

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Command:
    """One process to start: argv, extra environment and what to write to its stdin."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""


@dataclass(frozen=True)
class WorkerSetup:
    """How many worker processes, each with how many concurrent tasks, in which variant."""

    processes: int
    concurrency: int
    variant: str = ""

    @property
    def label(self) -> str:
        kind = f"{self.variant} " if self.variant else ""
        return f"{self.processes} proc x {kind}c{self.concurrency}"


@dataclass(frozen=True)
class EnqueueMode:
    """One row of the enqueue workload: the API measured, batched or not, which producer."""

    api: str
    batch: bool = False
    variant: str = ""


@dataclass(frozen=True)
class ProducerCall:
    count: int
    start: int = 0
    batch: bool = False
    rate: float = 0.0
    variant: str = ""
    """A system's second producer for the same API kind (kasynq: the blocking `Client`)."""

    def argv(self) -> list[str]:
        flags = ["--count", str(self.count), "--start", str(self.start), "--rate", str(self.rate)]
        return [*flags, "--batch"] if self.batch else flags


class System:
    """Base: a named system with a producer, workers, versions and an availability check."""

    key: str
    title: str
    is_python_peer: bool = False
    supports_batch: bool = False
    setups: tuple[WorkerSetup, ...] = ()
    latency_setup: WorkerSetup = WorkerSetup(1, 10)
    cluster_latency_setup: WorkerSetup | None = None
    """Set when the system also gets a pickup-latency row with its queues on Redis Cluster."""
    single_api: str = ""
    batch_api: str = ""
    fan_out_setup: WorkerSetup | None = None
    """Set when the system has a fan-out/fan-in row (a group and its callback)."""
    fan_out_api: str = ""

    def prepare(self) -> None:
        """Install or build what the system needs; raise with a reason if it cannot run."""

    def fan_out_producer(self, url: str, count: int) -> Command:
        """Enqueues one group of `count` no-op members and its callback, timed (FAN_OUT)."""
        raise NotImplementedError

    def fan_out_workers(self, url: str, setup: WorkerSetup) -> list[Command]:
        raise NotImplementedError

    def enqueue_modes(self) -> list[EnqueueMode]:
        """The enqueue rows: one call per task, then the batch API if there is one."""
        modes = [EnqueueMode(self.single_api)]
        if self.supports_batch:
            modes.append(EnqueueMode(self.batch_api, batch=True))
        return modes

    def producer(self, url: str, call: ProducerCall) -> Command:
        raise NotImplementedError

    def workers(self, url: str, setup: WorkerSetup) -> list[Command]:
        """One command per OS process the harness starts (a process may fork more)."""
        return [self.worker(url, setup, instance) for instance in range(setup.processes)]

    def worker(self, url: str, setup: WorkerSetup, instance: int) -> Command:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        return {}


def _python_env(url: str, **extra: str) -> dict[str, str]:
    # the caller's PYTHONPATH stays in front of the editable install (a worktree's code wins)
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {"BENCH_REDIS_URL": url, "PYTHONPATH": path, **extra}


@dataclass
class PythonPeer(System):
    """A Python task queue installed in a bench virtualenv."""

    key: str
    title: str
    venv: Venv
    module: str
    packages: tuple[str, ...]
    worker_argv: Callable[[WorkerSetup, int], list[str]]
    setups: tuple[WorkerSetup, ...]
    latency_setup: WorkerSetup = WorkerSetup(1, 10)
    supports_batch: bool = False
    single_api: str = ""
    batch_api: str = ""
    one_command_for_all_processes: bool = False
    is_python_peer: bool = True
    fan_out_setup: WorkerSetup | None = None
    fan_out_api: str = ""
    fan_out_module: str = ""
    """Module of the fan-out/fan-in producer and of the worker's app (`fan_out_worker_argv`)."""
    fan_out_worker_argv: Callable[[WorkerSetup, int], list[str]] | None = None

    def prepare(self) -> None:
        self.venv.ensure()

    def producer(self, url: str, call: ProducerCall) -> Command:
        argv = [str(self.venv.python), "-m", f"bench.peers.{self.module}", *call.argv()]
        return Command(argv, _python_env(url))

    def workers(self, url: str, setup: WorkerSetup) -> list[Command]:
        if self.one_command_for_all_processes:
            return [self.worker(url, setup, 0)]
        return super().workers(url, setup)

    def worker(self, url: str, setup: WorkerSetup, instance: int) -> Command:
        env = _python_env(url, BENCH_CONCURRENCY=str(setup.concurrency))
        return Command(self.worker_argv(setup, instance), env)

    def fan_out_producer(self, url: str, count: int) -> Command:
        argv = [str(self.venv.python), "-m", f"bench.peers.{self.fan_out_module}", FAN_OUT]
        return Command([*argv, "--count", str(count)], _python_env(url))

    def fan_out_workers(self, url: str, setup: WorkerSetup) -> list[Command]:
        assert self.fan_out_worker_argv is not None
        env = _python_env(url, BENCH_CONCURRENCY=str(setup.concurrency))
        return [
            Command(self.fan_out_worker_argv(setup, instance), env)
            for instance in range(setup.processes)
        ]

    def versions(self) -> dict[str, str]:
        installed = self.venv.versions()
        return {name: installed.get(name, "?") for name in self.packages}


def _celery_argv(
    setup: WorkerSetup, instance: int, app: str = "bench.peers.celery_peer"
) -> list[str]:
    pool = ["--pool", "solo"] if setup.variant == "solo" else ["-P", "threads"]
    return [
        str(PEERS_VENV.bin("celery")),
        "-A",
        app,
        "worker",
        *pool,
        "-c",
        str(setup.concurrency),
        "-n",
        f"bench{instance}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "WARNING",
    ]


def _rq_argv(setup: WorkerSetup, instance: int) -> list[str]:
    return [str(PEERS_VENV.bin("rq")), "worker", "-w", "rq.worker.SimpleWorker", "default"]


def _arq_argv(setup: WorkerSetup, instance: int) -> list[str]:
    return [str(ARQ_VENV.bin("arq")), "bench.peers.arq_peer.WorkerSettings"]


def _dramatiq_argv(setup: WorkerSetup, instance: int) -> list[str]:
    return [
        str(PEERS_VENV.bin("dramatiq")),
        "bench.peers.dramatiq_peer",
        "--processes",
        str(setup.processes),
        "--threads",
        str(setup.concurrency),
    ]


class RqPeer(PythonPeer):
    """RQ reads the Redis URL from its own flag, not from the task module."""

    def worker(self, url: str, setup: WorkerSetup, instance: int) -> Command:
        command = super().worker(url, setup, instance)
        return Command([*command.argv, "--url", url], command.env)


STANDARD_SETUPS = (WorkerSetup(1, 10), WorkerSetup(1, 100), WorkerSetup(2, 10))

CELERY = PythonPeer(
    key="celery",
    title="Celery",
    venv=PEERS_VENV,
    module="celery_peer",
    packages=("celery", "kombu", "redis", "hiredis"),
    worker_argv=_celery_argv,
    setups=(
        WorkerSetup(1, 10, "threads"),
        WorkerSetup(1, 100, "threads"),
        WorkerSetup(2, 10, "threads"),
        WorkerSetup(1, 1, "solo"),
        WorkerSetup(2, 1, "solo"),
    ),
    latency_setup=WorkerSetup(1, 10, "threads"),
    single_api="task.delay()",
    fan_out_setup=WorkerSetup(1, 10, "threads"),
    fan_out_api="chord(group)(callback), Redis result backend",
    fan_out_module="celery_chord_peer",
    fan_out_worker_argv=partial(_celery_argv, app="bench.peers.celery_chord_peer"),
)
RQ = RqPeer(
    key="rq",
    title="RQ",
    venv=PEERS_VENV,
    module="rq_peer",
    packages=("rq", "redis", "hiredis"),
    worker_argv=_rq_argv,
    setups=(WorkerSetup(1, 1, "SimpleWorker"), WorkerSetup(2, 1, "SimpleWorker")),
    latency_setup=WorkerSetup(1, 1, "SimpleWorker"),
    supports_batch=True,
    single_api="Queue.enqueue()",
    batch_api="Queue.enqueue_many(), 1,000 per call",
)
ARQ = PythonPeer(
    key="arq",
    title="arq",
    venv=ARQ_VENV,
    module="arq_peer",
    packages=("arq", "redis", "hiredis"),
    worker_argv=_arq_argv,
    setups=STANDARD_SETUPS,
    single_api="ArqRedis.enqueue_job()",
)
DRAMATIQ = PythonPeer(
    key="dramatiq",
    title="Dramatiq",
    venv=PEERS_VENV,
    module="dramatiq_peer",
    packages=("dramatiq", "redis", "hiredis"),
    worker_argv=_dramatiq_argv,
    setups=STANDARD_SETUPS,
    one_command_for_all_processes=True,
    single_api="actor.send()",
)


class GoAsynqSystem(System):
    """hibiken/asynq v0.26.0 through the interop program, built into the cache."""

    key = "go-asynq"
    title = "Go asynq"
    setups = STANDARD_SETUPS
    single_api = "Client.Enqueue"

    def __init__(self) -> None:
        self._binary: Path | None = None

    def prepare(self) -> None:
        if shutil.which("go") is None:
            raise RuntimeError("the Go toolchain is not on PATH")
        from devenv import goasynq

        self._binary = goasynq.build()

    @property
    def binary(self) -> Path:
        if self._binary is None:
            raise RuntimeError("GoAsynqSystem.prepare() was not called")
        return self._binary

    def _command(self, url: str, subcommand: str, stdin: Mapping[str, object]) -> Command:
        argv = [str(self.binary), "-redis", url, subcommand]
        return Command(argv, stdin=json.dumps(stdin).encode())

    def producer(self, url: str, call: ProducerCall) -> Command:
        stdin = {"count": call.count, "start": call.start, "rate": call.rate}
        return self._command(url, "bench-produce", stdin)

    def worker(self, url: str, setup: WorkerSetup, instance: int) -> Command:
        return self._command(url, "bench-worker", {"concurrency": setup.concurrency})

    def versions(self) -> dict[str, str]:
        go = subprocess.run(["go", "version"], capture_output=True, text=True, check=False)
        words = go.stdout.split()
        toolchain = words[2] if len(words) > 2 else "?"
        return {"asynq": _go_module_version("github.com/hibiken/asynq"), "Go": toolchain}


def _go_module_version(module: str) -> str:
    for line in (REPO_ROOT / "tests" / "interop" / "go.mod").read_text().splitlines():
        parts = line.split()
        if module in parts:
            return parts[parts.index(module) + 1]
    return "?"


BLOCKING_CLIENT = "blocking"
"""kasynq's producer variant measuring the blocking `Client` (bench.peers.kasynq_peer)."""
BLOCKING_API = "Client.enqueue (blocking)"
"""The enqueue row of that producer."""
FAN_OUT = "fan-out"
"""First argument of a producer module: enqueue the fan-out/fan-in workflow instead."""


class KasynqSystem(System):
    """kasynq itself: AsyncClient (and the blocking Client) for producing, the `kasynq worker`
    command for working."""

    key = "kasynq"
    title = "kasynq"
    setups = STANDARD_SETUPS
    supports_batch = True
    single_api = "AsyncClient.enqueue"
    batch_api = "AsyncClient.enqueue_many, 1,000 per call"
    cluster_latency_setup = WorkerSetup(1, 10, variant="Redis Cluster")
    fan_out_setup = WorkerSetup(1, 10)
    fan_out_api = "enqueue_workflow(group(...).then(callback))"
    module = "bench.peers.kasynq_peer"

    def prepare(self) -> None:
        for needed in ("kasynq.client", "kasynq.server", "kasynq.cli.worker"):
            if importlib.util.find_spec(needed) is None:
                raise RuntimeError(f"not yet available: {needed} has not landed")

    def enqueue_modes(self) -> list[EnqueueMode]:
        single, *batch = super().enqueue_modes()
        return [single, EnqueueMode(BLOCKING_API, variant=BLOCKING_CLIENT), *batch]

    def producer(self, url: str, call: ProducerCall) -> Command:
        variant = [call.variant] if call.variant else []
        argv = [sys.executable, "-m", self.module, *variant, *call.argv()]
        return Command(argv, _python_env(url))

    def worker(
        self, url: str, setup: WorkerSetup, instance: int, handler: str = "handler"
    ) -> Command:
        argv = [
            str(Path(sys.executable).with_name("kasynq")),
            "worker",
            "--redis-url",
            url,
            "--handlers",
            f"{self.module}:{handler}",
            "--concurrency",
            str(setup.concurrency),
            "--log-level",
            "WARNING",
        ]
        return Command(argv, _python_env(url))

    def fan_out_producer(self, url: str, count: int) -> Command:
        argv = [sys.executable, "-m", self.module, FAN_OUT, "--count", str(count)]
        return Command(argv, _python_env(url))

    def fan_out_workers(self, url: str, setup: WorkerSetup) -> list[Command]:
        return [
            self.worker(url, setup, instance, handler="fan_out_handler")
            for instance in range(setup.processes)
        ]

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        from kasynq import __version__

        return {"kasynq": __version__, "redis": version("redis"), "hiredis": version("hiredis")}


def all_systems() -> list[System]:
    """Every system, kasynq and Go asynq first (the ratios refer to them)."""
    return [KasynqSystem(), GoAsynqSystem(), CELERY, RQ, ARQ, DRAMATIQ]
