"""The demo shortened to a few hundred tasks: the whole loop on the local control plane.

Real etcd, kube-apiserver and kube-controller-manager, a real Redis, the `kasynq-operator`
process and one `kasynq worker` process per Pod (the kubelet stand-in). One slow task queued
after the burst keeps one pod busy while the pool scales in, so idle-first removal shows.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from devenv.demo import DemoOptions, DemoResult, run_demo

OPTIONS = DemoOptions(
    tasks=400,
    # 100 ms: at the producer's ~360/s the burst needs ~36 slots, far past max_replicas x
    # concurrency (20), so max is the only right peak whatever the service-time estimate;
    # at 50 ms it needed 18 (3.6 pods) and an estimate 20 % low made 3 right.
    task_ms=100,
    slow_tasks=1,
    slow_task_ms=15_000,
    min_replicas=1,
    max_replicas=4,
    concurrency=5,
    target_backlog_per_replica=50,
    poll_seconds=0.5,
    # Scale-in comes 10 s after the scale-up: by then a worker heartbeat (every 5 s) has
    # published the slow task, so the operator can give its pod a higher deletion cost.
    scale_down_seconds=10.0,
    timeout_seconds=120.0,
    live=False,
)
DECISION_BUDGET_SECONDS = 2 * OPTIONS.poll_seconds + 1.5
"""The operator decides at its next poll (at most one interval away) and patches the Deployment
at once; one more interval and our 0.5 s sampling are slack."""


@pytest.fixture(scope="module")
def demo_run(kube_bin_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """One shortened demo run shared by the assertions below."""
    del kube_bin_dir  # the fixture builds (or finds) the binaries and marks requires_kube
    workdir = tmp_path_factory.mktemp("demo")
    console = Console(file=io.StringIO(), width=120)
    return run_demo(OPTIONS, console, workdir)


def test_scales_up_within_the_decision_budget(demo_run: DemoResult) -> None:
    assert demo_run.scale_up_decided_seconds is not None, "the pool never grew"
    assert demo_run.scale_up_decided_seconds <= DECISION_BUDGET_SECONDS
    assert demo_run.peak_replicas == OPTIONS.max_replicas


def test_every_task_completed_exactly_once(demo_run: DemoResult) -> None:
    assert demo_run.enqueued == OPTIONS.tasks + OPTIONS.slow_tasks
    assert demo_run.enqueue_errors == 0
    assert demo_run.completed_unique == demo_run.enqueued
    assert demo_run.executions == demo_run.enqueued, "a task ran twice"
    assert demo_run.failed_total == 0
    assert demo_run.left_in_queue == 0
    assert demo_run.all_completed_once


def test_scales_back_to_min(demo_run: DemoResult) -> None:
    assert demo_run.scaled_down_seconds is not None
    last = demo_run.samples[-1]
    assert last.deployment_replicas == OPTIONS.min_replicas
    assert last.running == OPTIONS.min_replicas


def test_idle_pods_are_removed_before_busy_ones(demo_run: DemoResult) -> None:
    terminating = [event for event in demo_run.pod_events if event.kind == "terminating"]
    assert len(terminating) == OPTIONS.max_replicas - OPTIONS.min_replicas
    # While the slow task ran on one pod, the others were removed, never the busy one.
    assert any(event.detail["busy_others"] for event in terminating), terminating
    for event in terminating:
        assert event.detail["active"] == 0 or event.detail["idle_others"] == 0, event


def test_workers_stop_gracefully(demo_run: DemoResult) -> None:
    exits = [event for event in demo_run.pod_events if event.kind == "exited"]
    assert exits, "no pod was stopped"
    assert all(event.detail["code"] == 0 for event in exits), exits
