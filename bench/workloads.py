"""The workloads: one run each, on its own fresh redis-server on a loopback port."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

import redis

from bench import procs
from bench.peers.common import (
    CALLBACK_KEY,
    DONE_KEY,
    EDGES_KEY,
    FIRST_MEMBER,
    LAST_MEMBER,
    LATENCY_KEY,
    SEEN_KEY,
    URL_ENV,
)
from bench.processes import ProcessGroup, run_to_end, running
from bench.stats import Failed, percentile
from bench.systems import EnqueueMode, ProducerCall, System, WorkerSetup
from devenv.redis_servers import RedisServer, running_cluster

log = logging.getLogger(__name__)

POLL_SECONDS = 0.05
STALL_SECONDS = 30.0
STARTUP_SECONDS = 60.0
IDLE_SECONDS = 2.0
DUPLICATE_GRACE_SECONDS = 0.5
PRODUCER_TIMEOUT_SECONDS = 600.0
MIB = 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class Params:
    """Sizes of one session; `--quick` shrinks them."""

    runs: int
    enqueue_count: int
    drain_count: int
    latency_count: int
    latency_rate: float
    ceiling_requests: int
    operator_samples: int
    fan_out_count: int


FULL = Params(
    runs=3,
    enqueue_count=20_000,
    drain_count=20_000,
    latency_count=500,
    latency_rate=50.0,
    ceiling_requests=200_000,
    operator_samples=20,
    fan_out_count=10_000,
)
QUICK = Params(
    runs=1,
    enqueue_count=3_000,
    drain_count=3_000,
    latency_count=100,
    latency_rate=50.0,
    ceiling_requests=20_000,
    operator_samples=5,
    fan_out_count=2_000,
)


class RunFailed(Exception):
    """The run cannot give a number (lost or duplicated tasks, a crash, a stall)."""


@contextlib.contextmanager
def fresh_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.cleanup()


def _log_path(workdir: Path, name: str) -> Path:
    return workdir / f"{name}.log"


def produce(system: System, url: str, call: ProducerCall) -> tuple[float, int]:
    """Run the system's producer; (seconds it took, pending count it saw afterwards)."""
    output = run_to_end(system.producer(url, call), PRODUCER_TIMEOUT_SECONDS)
    answer = json.loads(output.strip().splitlines()[-1])
    return float(answer["seconds"]), int(answer["pending"])


@dataclass(frozen=True)
class Accounting:
    done: int
    distinct: int
    first: float | None
    last: float | None


def read_accounting(conn: redis.Redis) -> Accounting:
    pipe = conn.pipeline(transaction=False)
    pipe.get(DONE_KEY)
    pipe.scard(SEEN_KEY)
    pipe.zmscore(EDGES_KEY, [FIRST_MEMBER, LAST_MEMBER])
    done, distinct, (first, last) = pipe.execute()
    return Accounting(
        int(done or 0),
        int(distinct or 0),
        first,
        last,
    )


def check_exactly_once(accounting: Accounting, expected: int) -> None:
    """Raise RunFailed unless every one of `expected` tasks completed exactly once."""
    lost = expected - accounting.distinct
    duplicated = accounting.done - accounting.distinct
    if lost or duplicated:
        raise RunFailed(f"lost {lost}, duplicated {duplicated} of {expected} tasks")


def wait_for_done(conn: redis.Redis, workers: ProcessGroup, expected: int) -> Accounting:
    """Poll until `expected` completions; fail on a stall or a worker that exits."""
    last_done = -1
    last_progress = time.monotonic()
    while True:
        accounting = read_accounting(conn)
        if accounting.done >= expected:
            time.sleep(DUPLICATE_GRACE_SECONDS)
            return read_accounting(conn)
        exited = workers.exited()
        if exited:
            raise RunFailed(f"{exited}: {workers.log_tail()}")
        now = time.monotonic()
        if accounting.done != last_done:
            last_done, last_progress = accounting.done, now
        elif now - last_progress > (STARTUP_SECONDS if last_done <= 0 else STALL_SECONDS):
            raise RunFailed(f"stalled at {accounting.done} of {expected} tasks")
        time.sleep(POLL_SECONDS)


def enqueue_run(system: System, params: Params, mode: EnqueueMode) -> dict[str, float]:
    """Tasks/s of one producer process: one call per task, or the batch API."""
    call = ProducerCall(params.enqueue_count, batch=mode.batch, variant=mode.variant)
    with fresh_redis() as server:
        seconds, pending = produce(system, server.url, call)
    if pending != params.enqueue_count:
        raise RunFailed(f"{pending} pending after enqueueing {params.enqueue_count}")
    return {"rate": params.enqueue_count / seconds}


def _poll(workers: ProcessGroup, within: float, probe: Callable[[], T | None], late: str) -> T:
    """`probe()`'s first answer that is not None, polled while the workers live; RunFailed
    with `late` after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        exited = workers.exited()
        if exited:
            raise RunFailed(f"{exited}: {workers.log_tail()}")
        time.sleep(POLL_SECONDS)
    raise RunFailed(late)


def _first_completions(conn: redis.Redis, workers: ProcessGroup) -> tuple[int, float]:
    """Completions and worker CPU seconds at the first poll that sees any completion."""

    def probe() -> tuple[int, float] | None:
        done = read_accounting(conn).done
        cpu = procs.cpu_seconds(workers.pids())
        return (done, cpu) if done else None

    late = f"no task completed within {STARTUP_SECONDS:.0f}s of starting the workers"
    return _poll(workers, STARTUP_SECONDS, probe, late)


def drain_run(
    system: System, setup: WorkerSetup, params: Params, workdir: Path
) -> dict[str, float]:
    """Tasks/s from first to last completion of pre-enqueued tasks, and CPU per 10,000.

    CPU is counted from the first poll that sees a completion, so start-up is left out.
    """
    count = params.drain_count
    with fresh_redis() as server, server.client() as conn:
        _, pending = produce(system, server.url, ProducerCall(count, batch=system.supports_batch))
        if pending != count:
            raise RunFailed(f"prefill: {pending} pending of {count}")
        commands = system.workers(server.url, setup)
        with running(commands, _log_path(workdir, f"drain-{system.key}")) as workers:
            base_done, base_cpu = _first_completions(conn, workers)
            accounting = wait_for_done(conn, workers, count)
            cpu = procs.cpu_seconds(workers.pids()) - base_cpu
    check_exactly_once(accounting, count)
    assert accounting.first is not None and accounting.last is not None
    elapsed = accounting.last - accounting.first
    worked = count - base_done
    return {
        "rate": (count - 1) / elapsed,
        "cpu_per_10k": cpu / worked * 10_000 if worked else 0.0,
    }


@contextlib.contextmanager
def queue_redis(accounting: RedisServer, on_cluster: bool) -> Iterator[str]:
    """The URL of the Redis holding the queues: the accounting server itself, or a fresh
    3-master Redis Cluster (`?cluster=true`: kasynq's URL form for one node of a Cluster)."""
    if not on_cluster:
        yield accounting.url
        return
    with running_cluster() as cluster:
        host, port = cluster.startup_nodes[0]
        yield f"redis://{host}:{port}/0?cluster=true"


def latency_run(
    system: System, params: Params, workdir: Path, on_cluster: bool = False
) -> dict[str, float]:
    """Pickup latency of an idle worker at a steady rate, and the idle worker's RSS.

    `on_cluster`: the queues live on a Redis Cluster; the accounting stays on a standalone
    server (the worker processes get its URL in the environment, the queue's on the command
    line).
    """
    setup = system.cluster_latency_setup if on_cluster else system.latency_setup
    name = f"latency-{system.key}{'-cluster' if on_cluster else ''}"
    with (
        fresh_redis() as server,
        server.client() as conn,
        queue_redis(server, on_cluster) as queue_url,
    ):
        commands = [
            replace(command, env={**command.env, URL_ENV: server.url})
            for command in system.workers(queue_url, setup)
        ]
        with running(commands, _log_path(workdir, name)) as workers:
            produce(system, queue_url, ProducerCall(1))
            check_exactly_once(wait_for_done(conn, workers, 1), 1)
            time.sleep(IDLE_SECONDS)
            idle_rss = procs.rss_bytes(workers.pids())
            conn.delete(LATENCY_KEY)
            call = ProducerCall(params.latency_count, start=1, rate=params.latency_rate)
            produce(system, queue_url, call)
            accounting = wait_for_done(conn, workers, params.latency_count + 1)
            latencies = [float(value) * 1000 for value in conn.lrange(LATENCY_KEY, 0, -1)]
    check_exactly_once(accounting, params.latency_count + 1)
    return {
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "idle_rss_mib": idle_rss / MIB,
    }


def _callback_ran(conn: redis.Redis, workers: ProcessGroup) -> tuple[float, int, int]:
    """(end time, results handed over, runs) of the fan-in callback, once it ran."""
    late = f"the callback did not run within {STALL_SECONDS:.0f}s of its members"
    _poll(workers, STALL_SECONDS, lambda: conn.hget(CALLBACK_KEY, "at"), late)
    time.sleep(DUPLICATE_GRACE_SECONDS)  # a second run of the callback would show by now
    at, results, runs = conn.hmget(CALLBACK_KEY, ["at", "results", "runs"])
    return float(at), int(results or 0), int(runs or 0)


def _fan_out(
    system: System, url: str, conn: redis.Redis, workers: ProcessGroup, count: int
) -> dict[str, float]:
    """One group of `count` members and its callback, from the producer's start to the end of
    the callback; every member exactly once, the callback once with every member's result."""
    output = run_to_end(system.fan_out_producer(url, count), PRODUCER_TIMEOUT_SECONDS)
    answer = json.loads(output.strip().splitlines()[-1])
    accounting = wait_for_done(conn, workers, count)
    ended, results, runs = _callback_ran(conn, workers)
    check_exactly_once(accounting, count)
    if (runs, results) != (1, count):
        raise RunFailed(f"callback ran {runs} time(s) with {results} of {count} results")
    seconds = ended - float(answer["started"])
    return {"seconds": seconds, "rate": count / seconds, "enqueue_seconds": answer["seconds"]}


def fan_out_run(system: System, params: Params, workdir: Path) -> dict[str, float]:
    """Fan-out/fan-in end to end: a group of no-op tasks and a callback given their results.

    The workers are warmed up with a one-member group first (start-up is not measured)."""
    setup = system.fan_out_setup
    assert setup is not None
    with fresh_redis() as server, server.client() as conn:
        commands = system.fan_out_workers(server.url, setup)
        with running(commands, _log_path(workdir, f"fan-out-{system.key}")) as workers:
            _fan_out(system, server.url, conn, workers, 1)
            conn.delete(DONE_KEY, SEEN_KEY, EDGES_KEY, LATENCY_KEY, CALLBACK_KEY)
            return _fan_out(system, server.url, conn, workers, params.fan_out_count)


CEILING_TESTS: tuple[tuple[str, list[str]], ...] = (
    ("LPUSH", ["-t", "lpush"]),
    ("RPOP", ["-t", "rpop"]),
    ("EVALSHA return 1", []),
)


def ceiling_run(test: str, clients: int, pipeline: int, params: Params) -> dict[str, float]:
    """requests/s of `redis-benchmark -c <clients> -P <pipeline>` for one command."""
    arguments = dict(CEILING_TESTS)[test]
    with fresh_redis() as server:
        if not arguments:
            with server.client() as conn:
                sha = str(conn.script_load("return 1"))
            arguments = ["evalsha", sha, "0"]
        result = subprocess.run(
            [
                "redis-benchmark",
                "-p",
                str(server.port),
                "-c",
                str(clients),
                "-P",
                str(pipeline),
                "-n",
                str(params.ceiling_requests),
                "--csv",
                *arguments,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
    rows = [row for row in csv.reader(io.StringIO(result.stdout)) if len(row) > 1]
    return {"rps": float(rows[-1][1])}


def run_guarded(description: str, run: Callable[[], dict[str, float]]) -> dict[str, float] | Failed:
    """Call `run()`; a RunFailed or a crash becomes a Failed outcome, logged with its reason."""
    try:
        outcome: dict[str, float] = run()
    except Exception as exc:  # any failure of one run is that run's outcome, not the session's
        log.warning("run failed what=%s reason=%s", description, exc)
        return Failed(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__)
    log.info("run what=%s outcome=%s", description, outcome)
    return outcome


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="kasynq-bench-"))
