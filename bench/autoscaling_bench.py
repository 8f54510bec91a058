"""Autoscaling accuracy: every simulator scenario under kasynq's policy, the oracle and the
HPA/KEDA baseline (`devenv.simulator`), as rows plus the time series the charts draw.

The simulator is deterministic, so one run per session suffices; it needs no Redis and no
Kubernetes (`scaling.decide` is pure).
"""

from __future__ import annotations

from bench.results import AUTOSCALING, Results
from devenv.simulator.engine import Trace
from devenv.simulator.scenarios import SCENARIOS
from devenv.simulator.scores import Scores, compare

SIZERS = ("kasynq", "oracle", "hpa")
TITLES = {"kasynq": "kasynq", "oracle": "oracle", "hpa": "HPA/KEDA baseline"}
METRICS = (
    "p95",
    "slo_met",
    "pod_seconds",
    "pod_seconds_x_oracle",
    "peak",
    "peak_x_needed",
    "needed",
    "reversals",
    "busy_removed",
    "interrupted",
    "cron_missed",
)
SERIES_STEP_SECONDS = 5
"""The charts' resolution: every 5th one-second point of a trace."""


def _values(scores: Scores, oracle: Scores, needed: int) -> dict[str, float]:
    return {
        "p95": scores.p95_latency,
        "slo_met": float(scores.slo_met),
        "pod_seconds": scores.pod_seconds,
        "pod_seconds_x_oracle": scores.pod_seconds / max(oracle.pod_seconds, 1e-9),
        "peak": float(scores.peak_replicas),
        "peak_x_needed": scores.peak_ratio,
        "needed": float(needed),
        "reversals": float(scores.reversals),
        "busy_removed": float(scores.busy_removed_while_idle),
        "interrupted": float(scores.tasks_interrupted),
        "cron_missed": float(scores.cron_missed),
    }


def _series(trace: Trace) -> dict[str, list[float]]:
    step = SERIES_STEP_SECONDS
    return {
        "t": trace.times[::step],
        "replicas": [float(value) for value in trace.replicas[::step]],
        "latency": [round(value, 2) for value in trace.latency[::step]],
    }


def autoscaling_round(results: Results) -> None:
    """One row per (scenario, sizer) and its replicas/latency series."""
    results.titles.update(TITLES)
    for scenario in SCENARIOS:
        comparison = compare(scenario)
        target = f"p95 ≤ {scenario.target_latency_seconds:g} s"
        label = f"{scenario.name}: {scenario.arrivals.label}, {scenario.service.label}, {target}"
        by_sizer = {"kasynq": comparison.kasynq, "oracle": comparison.oracle, "hpa": comparison.hpa}
        for sizer in SIZERS:
            row = results.row(AUTOSCALING, sizer, label, variant=scenario.name)
            values = _values(by_sizer[sizer], comparison.oracle, comparison.needed)
            row.add_run(values, METRICS)
            results.series[f"{scenario.name}/{sizer}"] = _series(comparison.traces[sizer])
