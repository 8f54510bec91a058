"""A simulator scenario replayed on the local control plane with real worker processes.

The demo's loop (`devenv.demo.demo_loop`: dev control plane, Redis, `kasynq-operator`, the
kubelet stand-in running one `kasynq worker` per pod) gets the scenario's exact tasks at their
arrival times (the example handler sleeps for each task's service time); the pods the
stand-in runs are counted every `SAMPLE_SECONDS`. The simulator is checked against this.
"""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kasynq.client import Client
from kasynq.task import Task
from rich.console import Console

from devenv.demo import TASK_TYPE, Demo, DemoOptions, demo_loop
from devenv.simulator.controllers import Kasynq, scenario_policy
from devenv.simulator.engine import Simulation
from devenv.simulator.workload import Scenario, constant, window

SAMPLE_SECONDS = 0.25

REPLAY = Scenario(
    "replay",
    window(10, begin=10, end=70),
    constant(1.0),
    duration=110,
    concurrency=5,
    max_replicas=10,
    startup_seconds=(1.0, 3.0),
    target_latency_seconds=5,
    autoscaling={"poll_interval_seconds": 1.0, "scale_down_stabilization_seconds": 20},
)
"""1 s tasks at 10/s for a minute on concurrency 5 (3 pods needed), then nothing: the pool
grows, holds and shrinks within two minutes. Pods of the stand-in take 1-3 s to be ready."""


@dataclass
class ReplayResult:
    """Pods over time (seconds since the start, pods running), their integral and peak."""

    pods: list[tuple[float, int]] = field(default_factory=list)
    pod_seconds: float = 0.0
    peak: int = 0
    enqueued: int = 0


def _produce(demo: Demo, scenario: Scenario, start: float, errors: list[Exception]) -> None:
    """Enqueue the scenario's tasks at their arrival times (thread body)."""
    try:
        with Client.from_url(demo.redis_url) as producer:
            for number, task in enumerate(scenario.tasks()):
                time.sleep(max(0.0, start + task.arrival - time.monotonic()))
                payload = json.dumps({"n": number, "ms": round(task.service * 1000)}).encode()
                producer.enqueue(Task(TASK_TYPE, payload), queue=demo.redis_queue)
                demo.result.enqueued += 1
    except Exception as exc:  # reported by the caller, which owns the loop
        errors.append(exc)


def replay(scenario: Scenario, workdir: Path) -> ReplayResult:
    """Run `scenario` for its duration on the real loop; returns the pods it ran."""
    policy = scenario_policy(scenario)
    options = DemoOptions(
        tasks=0,
        min_replicas=scenario.min_replicas,
        max_replicas=scenario.max_replicas,
        concurrency=scenario.concurrency,
        target_backlog_per_replica=round(policy.target_backlog_per_replica),
        poll_seconds=policy.poll_interval_seconds,
        scale_down_seconds=policy.scale_down_stabilization_seconds,
        target_latency_seconds=policy.target_latency_seconds,
        live=False,
    )
    result = ReplayResult()
    with demo_loop(options, Console(file=io.StringIO()), workdir) as demo:
        start = time.monotonic()
        errors: list[Exception] = []
        producer = threading.Thread(target=_produce, args=(demo, scenario, start, errors))
        producer.start()
        try:
            while (elapsed := time.monotonic() - start) < scenario.duration:
                demo.check_workers()
                result.pods.append((elapsed, len(demo.pods.running())))
                time.sleep(SAMPLE_SECONDS)
        finally:
            producer.join()
        if errors:
            raise errors[0]
        result.enqueued = demo.result.enqueued
    times = [at for at, _ in result.pods] + [scenario.duration]
    result.pod_seconds = sum(
        count * (after - at) for (at, count), after in zip(result.pods, times[1:], strict=True)
    )
    result.peak = max(count for _, count in result.pods)
    return result


def simulate(scenario: Scenario) -> ReplayResult:
    """The same scenario in the simulator, under kasynq's policy."""
    outcome = Simulation(scenario, Kasynq(scenario_policy(scenario))).run()
    trace = outcome.trace
    return ReplayResult(
        pods=list(zip(trace.times, trace.replicas, strict=True)),
        pod_seconds=outcome.pod_seconds,
        peak=max(trace.replicas),
        enqueued=len(outcome.pickup_latencies),
    )
