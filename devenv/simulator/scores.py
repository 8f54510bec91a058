"""Scores of one run and the comparison of kasynq, the oracle and the HPA baseline."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from kasynq_operator.scaling import Policy

from devenv.simulator.controllers import Hpa, Kasynq, Oracle, scenario_policy
from devenv.simulator.engine import Controller, Outcome, Simulation, Trace
from devenv.simulator.workload import Scenario

ORACLE_HEADROOMS = (1.0, 1.05, 1.1, 1.15, 1.2, 1.3, 1.45, 1.6, 1.8, 2.0, 2.5, 3.0)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def reversals(decisions: list[tuple[float, int]]) -> int:
    """How often the decided size moved against the direction of its previous move."""
    count, last = 0, 0
    for (_, before), (_, after) in itertools.pairwise(decisions):
        direction = (after > before) - (after < before)
        if direction and last and direction != last:
            count += 1
        last = direction or last
    return count


@dataclass(frozen=True)
class Scores:
    """The issue's scores of one controller on one scenario."""

    controller: str
    p95_latency: float
    slo_met: bool
    pod_seconds: float
    peak_replicas: int
    peak_ratio: float
    """Peak replicas / the oracle's peak (the needed size)."""
    reversals: int
    busy_pods_removed: int
    busy_removed_while_idle: int
    tasks_interrupted: int
    cron_runs: int
    cron_missed: int


def score(outcome: Outcome, scenario: Scenario, needed: int) -> Scores:
    p95 = percentile(outcome.pickup_latencies, 0.95)
    peak = max(outcome.trace.replicas, default=0)
    return Scores(
        controller=outcome.controller,
        p95_latency=round(p95, 2),
        slo_met=p95 <= scenario.target_latency_seconds,
        pod_seconds=round(outcome.pod_seconds, 1),
        peak_replicas=peak,
        peak_ratio=round(peak / max(1, needed), 2),
        reversals=reversals(outcome.decisions),
        busy_pods_removed=outcome.busy_pods_removed,
        busy_removed_while_idle=outcome.busy_removed_while_idle,
        tasks_interrupted=outcome.tasks_interrupted,
        cron_runs=outcome.cron_runs,
        cron_missed=outcome.cron_missed,
    )


def oracle_outcome(scenario: Scenario) -> Outcome:
    """The oracle with the smallest headroom that meets the SLO (the largest if none does)."""
    outcome: Outcome | None = None
    for headroom in ORACLE_HEADROOMS:
        outcome = Simulation(scenario, Oracle(scenario, headroom)).run()
        if percentile(outcome.pickup_latencies, 0.95) <= scenario.target_latency_seconds:
            break
    assert outcome is not None
    return outcome


def needed_replicas(outcome: Outcome, scenario: Scenario) -> int:
    """The size the load needs: the oracle's peak, at least 1 when anything arrives."""
    return max(1, max(outcome.trace.replicas, default=0), scenario.min_replicas)


@dataclass(frozen=True)
class Comparison:
    scenario: Scenario
    kasynq: Scores
    oracle: Scores
    hpa: Scores
    traces: dict[str, Trace]
    needed: int


PolicyFactory = Callable[[Scenario], Policy]


def compare(scenario: Scenario, policy: PolicyFactory = scenario_policy) -> Comparison:
    """Run the three controllers on one scenario and score them against the oracle's size."""
    oracle = oracle_outcome(scenario)
    needed = needed_replicas(oracle, scenario)
    controllers: list[Controller] = [Kasynq(policy(scenario)), Hpa(policy(scenario))]
    outcomes = {c.name: Simulation(scenario, c).run() for c in controllers}
    outcomes["oracle"] = oracle
    scores = {name: score(outcome, scenario, needed) for name, outcome in outcomes.items()}
    return Comparison(
        scenario=scenario,
        kasynq=scores["kasynq"],
        oracle=scores["oracle"],
        hpa=scores["hpa"],
        traces={name: outcome.trace for name, outcome in outcomes.items()},
        needed=needed,
    )
