"""The three sizers the simulator compares: kasynq's policy, an HPA/KEDA baseline, an oracle."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from kasynq_operator.scaling import Policy, ScalerState, decide

from devenv.simulator.engine import View
from devenv.simulator.workload import Scenario, Task

HPA_SYNC_SECONDS = 15.0
HPA_DOWN_STABILIZATION_SECONDS = 300.0
HPA_TOLERANCE = 0.1
HPA_SCALE_UP_PODS = 4
"""HPA default scale-up policies: +100 % or +4 pods per 15 s, whichever is more."""


def scenario_policy(scenario: Scenario) -> Policy:
    """The Policy a pool of this scenario runs with (defaults plus the scenario's settings)."""
    known = {f.name for f in fields(Policy)}
    unknown = set(scenario.autoscaling) - known
    if unknown:
        raise ValueError(f"scenario {scenario.name}: unknown autoscaling {sorted(unknown)}")
    return Policy(
        min_replicas=scenario.min_replicas,
        max_replicas=scenario.max_replicas,
        concurrency=scenario.concurrency,
        target_latency_seconds=scenario.target_latency_seconds,
        **scenario.autoscaling,  # type: ignore[arg-type]
    )


@dataclass
class Kasynq:
    """`scaling.decide` as the operator runs it: state kept across polls; busy pods and
    deletion costs from the servers' busy counts, current at the poll."""

    policy: Policy
    name: str = "kasynq"
    state: ScalerState = field(default_factory=lambda: ScalerState(started_at=-3600.0))

    @property
    def poll_seconds(self) -> float:
        return self.policy.poll_interval_seconds

    def desired(self, view: View) -> int:
        decision = decide(
            self.policy,
            view.current,
            view.metrics,
            view.now,
            self.state,
            view.ready,
            busy_pods=sum(1 for count in view.busy.values() if count),
            next_schedule_in=view.next_schedule_in,
        )
        if decision.metrics_available and decision.state is not None:
            self.state = decision.state
        return decision.desired_replicas

    def deletion_costs(self, view: View) -> Mapping[str, int]:
        return view.busy


@dataclass
class Hpa:
    """What users get today: KEDA's Redis list scaler on an HPA with its defaults.

    desired = ceil(current x (pending per replica) / target), i.e. ceil(pending / target),
    15 s sync, 10 % tolerance, 300 s scale-down stabilization, deletion costs never set.
    """

    policy: Policy
    name: str = "hpa"
    poll_seconds: float = HPA_SYNC_SECONDS
    history: list[tuple[float, int]] = field(default_factory=list)

    def desired(self, view: View) -> int:
        if view.metrics is None:
            return view.current
        pending = sum(q.pending for q in view.metrics.queues)
        target = self.policy.target_backlog_per_replica
        if view.current == 0:
            raw = 1 if pending > 0 else 0  # KEDA activation
        else:
            ratio = pending / (view.current * target)
            raw = view.current if abs(ratio - 1) <= HPA_TOLERANCE else math.ceil(pending / target)
        bounded = min(max(raw, self.policy.min_replicas), self.policy.max_replicas)
        self.history = [
            (at, size)
            for at, size in self.history
            if at > view.now - HPA_DOWN_STABILIZATION_SECONDS
        ]
        self.history.append((view.now, bounded))
        ceiling = max(HPA_SCALE_UP_PODS, 2 * view.current)
        if bounded > view.current:
            return min(bounded, ceiling)
        return max(size for _, size in self.history)

    def deletion_costs(self, view: View) -> Mapping[str, int]:
        return {}


def zero_wait_concurrency(tasks: list[Task], duration: float, step: float = 1.0) -> list[float]:
    """Mean slots busy in each `step` if every task started the moment it arrived."""
    longest = max((task.service for task in tasks), default=0.0)
    busy = [0.0] * (math.ceil((duration + longest) / step) + 1)
    for task in tasks:
        start, end = task.arrival, task.arrival + task.service
        slot = int(start // step)
        while start < end and slot < len(busy):
            edge = min(end, (slot + 1) * step)
            busy[slot] += (edge - start) / step
            start, slot = edge, slot + 1
    return busy


@dataclass
class Oracle:
    """The future known: the smallest size whose slots cover the load of the next target-latency
    window, times a headroom the caller searches for (`oracle_outcome`), ordered one start-up
    delay early; scale-in only removes idle pods."""

    scenario: Scenario
    headroom: float
    name: str = "oracle"
    poll_seconds: float = 1.0
    sizes: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        tasks = list(self.scenario.tasks())
        every = self.scenario.schedules_every
        if every is not None:
            count = int(self.scenario.duration // every)
            tasks += [Task(k * every, self.scenario.service.mean) for k in range(1, count + 1)]
        busy = zero_wait_concurrency(tasks, self.scenario.duration)
        window = max(1, int(self.scenario.target_latency_seconds))
        lead = math.ceil(self.scenario.startup_seconds[1]) + 1
        need = []
        for second in range(len(busy)):
            ahead = busy[second : second + window]
            slots = self.headroom * sum(ahead) / len(ahead)
            need.append(math.ceil(slots / self.scenario.concurrency - 1e-9))
        self.sizes = [max(need[s : s + lead + 1]) for s in range(len(need))]

    def desired(self, view: View) -> int:
        size = self.sizes[min(int(view.now), len(self.sizes) - 1)]
        busy_pods = sum(1 for count in view.busy.values() if count)
        bounded = min(max(size, self.scenario.min_replicas), self.scenario.max_replicas)
        return max(bounded, busy_pods) if bounded < view.current else bounded

    def deletion_costs(self, view: View) -> Mapping[str, int]:
        return view.busy
