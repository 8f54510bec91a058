"""`make bench-node` (`python -m bench.realnode`): the real-node row of docs/benchmarks.md.

Runs the example pool (examples/pool.yaml's sizes: 1 to 10 pods, concurrency 10, 100 tasks
per replica, 1 s polls, 20 s scale-down stabilization) on the real node with the demo's burst
of 5,000 tasks of 50 ms, and records burst -> Deployment spec.replicas changed, -> first new
pod Ready, -> drained, and the peak of ready pods. Needs root (see devenv.realnode).
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path

import yaml
from rich.console import Console

from bench.report import realnode_section, splice_section
from devenv.demo import DemoOptions, run_demo_on_real_node
from devenv.realnode.node import requirements_missing

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "docs" / "benchmarks" / "realnode.json"
PAGE = REPO / "docs" / "benchmarks.md"
TASKS, TASK_MS = 5000, 50


def example_pool_options() -> DemoOptions:
    """The demo's options with the example pool's own sizes and timings."""
    spec = yaml.safe_load((REPO / "examples" / "pool.yaml").read_text())["spec"]
    scaling = spec["autoscaling"]
    return DemoOptions(
        tasks=TASKS,
        task_ms=TASK_MS,
        min_replicas=spec["replicas"]["min"],
        max_replicas=spec["replicas"]["max"],
        concurrency=spec["concurrency"],
        target_backlog_per_replica=scaling["targetBacklogPerReplica"],
        poll_seconds=scaling["pollIntervalSeconds"],
        scale_down_seconds=scaling["scaleDownStabilizationSeconds"],
        live=False,
    )


def main() -> int:
    reason = requirements_missing()
    if reason:
        sys.stderr.write(f"the real node cannot run here: {reason}\n")
        return 2
    options = example_pool_options()
    result = run_demo_on_real_node(options, Console())
    if not result.all_completed_once:
        sys.stderr.write("not every task completed exactly once: no figures written\n")
        return 1
    figures = {
        "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "tasks": TASKS,
        "task_ms": TASK_MS,
        "replicas_changed_s": result.scale_up_decided_seconds,
        "first_new_pod_ready_s": result.scale_up_ready_seconds,
        "drained_s": result.drained_seconds,
        "peak_pods": result.peak_replicas,
        "max_replicas": options.max_replicas,
    }
    RESULT.write_text(json.dumps(figures, indent=1) + "\n")
    PAGE.write_text(splice_section(PAGE.read_text(), realnode_section(figures)))
    sys.stdout.write(realnode_section(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
