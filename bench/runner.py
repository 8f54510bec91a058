"""One benchmark session: every workload, its runs interleaved across the systems."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bench import machine
from bench.autoscaling_bench import AUTOSCALING, autoscaling_round
from bench.operator_bench import POOL_SIZES, round_trips_run
from bench.operator_kube import POOL_COUNTS, operator_run, unavailable_reason, versions
from bench.results import (
    CEILING,
    DRAIN,
    ENQUEUE,
    FAN_OUT,
    LATENCY,
    OPERATOR,
    ROUND_TRIPS,
    WEB,
    Results,
    Row,
)
from bench.systems import System, WorkerSetup
from bench.waiting_bench import WAIT, wait_round
from bench.web_bench import PAGES, QUEUE_COUNT, TASK_COUNT, web_console_run
from bench.workloads import (
    CEILING_TESTS,
    Params,
    ceiling_run,
    drain_run,
    enqueue_run,
    fan_out_run,
    latency_run,
    run_guarded,
)

log = logging.getLogger(__name__)

WORKLOADS = (
    ENQUEUE, DRAIN, LATENCY, FAN_OUT, CEILING, ROUND_TRIPS, OPERATOR, AUTOSCALING, WAIT, WEB
)  # fmt: skip
CEILING_SHAPES = ((50, 1), (50, 16), (1, 1))
"""(clients, pipeline) of redis-benchmark; -c 1 -P 1 is one serial connection's limit."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def prepare(systems: Sequence[System], results: Results) -> list[System]:
    """Install or build each system; those that cannot run are listed with the reason."""
    ready: list[System] = []
    for system in systems:
        results.titles[system.key] = system.title
        try:
            system.prepare()
            results.versions[system.title] = system.versions()
        except Exception as exc:  # any reason at all must end up on the page, not abort
            log.warning("system unavailable system=%s reason=%s", system.key, exc)
            results.unavailable[system.title] = str(exc).strip().splitlines()[-1][:300]
            continue
        if system.is_python_peer:
            results.python_peers.append(system.key)
        ready.append(system)
    return ready


def _enqueue_round(systems: Sequence[System], params: Params, results: Results) -> None:
    for system in systems:
        for mode in system.enqueue_modes():
            row = results.row(ENQUEUE, system.key, mode.api, batch=mode.batch)
            outcome = run_guarded(
                f"enqueue {system.key} {mode.api}", partial(enqueue_run, system, params, mode)
            )
            row.add_run(outcome, ("rate",))


def _setup_row(results: Results, workload: str, system: System, setup: WorkerSetup) -> Row:
    return results.row(
        workload,
        system.key,
        setup.label,
        processes=setup.processes,
        concurrency=setup.concurrency,
        variant=setup.variant,
    )


def _drain_round(
    systems: Sequence[System], params: Params, results: Results, workdir: Path
) -> None:
    for system in systems:
        for setup in system.setups:
            row = _setup_row(results, DRAIN, system, setup)
            outcome = run_guarded(
                f"drain {system.key} {setup.label}",
                partial(drain_run, system, setup, params, workdir),
            )
            row.add_run(outcome, ("rate", "cpu_per_10k"))


def _latency_round(
    systems: Sequence[System], params: Params, results: Results, workdir: Path
) -> None:
    for system in systems:
        row = _setup_row(results, LATENCY, system, system.latency_setup)
        outcome = run_guarded(
            f"latency {system.key}", partial(latency_run, system, params, workdir)
        )
        row.add_run(outcome, ("p50", "p95", "p99", "idle_rss_mib"))
    for system in systems:
        if system.cluster_latency_setup is None:
            continue
        row = _setup_row(results, LATENCY, system, system.cluster_latency_setup)
        outcome = run_guarded(
            f"latency {system.key} on Redis Cluster",
            partial(latency_run, system, params, workdir, on_cluster=True),
        )
        row.add_run(outcome, ("p50", "p95", "p99", "idle_rss_mib"))


def _fan_out_round(
    systems: Sequence[System], params: Params, results: Results, workdir: Path
) -> None:
    for system in systems:
        if system.fan_out_setup is None:
            continue
        row = results.row(FAN_OUT, system.key, system.fan_out_api,
                          processes=system.fan_out_setup.processes,
                          concurrency=system.fan_out_setup.concurrency)  # fmt: skip
        outcome = run_guarded(
            f"fan-out {system.key}", partial(fan_out_run, system, params, workdir)
        )
        row.add_run(outcome, ("seconds", "rate", "enqueue_seconds"))


def _ceiling_round(params: Params, results: Results) -> None:
    for test, _ in CEILING_TESTS:
        for clients, pipeline in CEILING_SHAPES:
            label = f"{test}, -c {clients} -P {pipeline}"
            row = results.row(CEILING, "redis", label, concurrency=clients)
            outcome = run_guarded(
                f"redis-benchmark {label}", partial(ceiling_run, test, clients, pipeline, params)
            )
            row.add_run(outcome, ("rps",))


def _pool_label(count: int, noun: str = "queue") -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _round_trips_round(results: Results) -> None:
    for queue_count in POOL_SIZES:
        row = results.row(ROUND_TRIPS, "kasynq", _pool_label(queue_count), concurrency=queue_count)
        outcome = run_guarded(
            f"sampler round trips {queue_count} queues", partial(round_trips_run, queue_count)
        )
        row.add_run(outcome, ("round_trips_per_poll", "per_queue"))


def _operator_round(params: Params, results: Results, workdir: Path) -> None:
    for pool_count in POOL_COUNTS:
        row = results.row(OPERATOR, "kasynq-operator", _pool_label(pool_count, "pool"))
        outcome = run_guarded(
            f"operator {pool_count} pools",
            partial(operator_run, pool_count, params.operator_samples, workdir),
        )
        row.add_run(outcome, ("p50", "p95", "rss_mib"))


def _web_round(results: Results) -> None:
    label = f"{QUEUE_COUNT:,} queues, {TASK_COUNT:,} pending in one"
    row = results.row(WEB, "kasynq", label, concurrency=QUEUE_COUNT)
    outcome = run_guarded("web console render times", web_console_run)
    row.add_run(outcome, tuple(f"{page} {p}" for page in PAGES for p in ("p50", "p95")))


def run_session(
    systems: Sequence[System],
    workloads: Sequence[str],
    params: Params,
    quick: bool,
    workdir: Path,
) -> Results:
    """Run the workloads in order; within each, run r of every system before run r + 1."""
    results = Results(quick=quick, started=_now(), machine=machine.describe())
    results.titles.update({"redis": "Redis", "kasynq-operator": "kasynq operator"})
    ready = prepare(systems, results)
    operator_missing = unavailable_reason(may_build=not quick) if OPERATOR in workloads else None
    if operator_missing:
        results.unavailable["kasynq operator"] = operator_missing
    elif OPERATOR in workloads:
        results.versions["kasynq operator"] = versions()
    for workload in workloads:
        for run in range(params.runs):
            log.info("workload=%s run=%d of %d", workload, run + 1, params.runs)
            if workload == ENQUEUE:
                _enqueue_round(ready, params, results)
            elif workload == DRAIN:
                _drain_round(ready, params, results, workdir)
            elif workload == LATENCY:
                _latency_round(ready, params, results, workdir)
            elif workload == FAN_OUT:
                _fan_out_round(ready, params, results, workdir)
            elif workload == CEILING:
                _ceiling_round(params, results)
            elif workload == ROUND_TRIPS and "kasynq" in results.versions:
                _round_trips_round(results)
            elif workload == OPERATOR and not operator_missing:
                _operator_round(params, results, workdir)
            elif workload == WAIT and "kasynq" in results.versions:
                wait_round(results, workdir)
            elif workload == AUTOSCALING and run == 0:  # deterministic: one run is all
                autoscaling_round(results)
            elif workload == WEB:
                _web_round(results)
    results.finished = _now()
    return results
