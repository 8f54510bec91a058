"""The autoscaling decision: pure functions of queue metrics, the policy and remembered state.

No I/O happens here. The operator samples Redis, calls `decide`, applies the returned size and
keeps the returned `ScalerState` for the next poll. Sizing, per poll:

* backlog = pending + scheduled/retry due within the lookahead, of non-paused queues;
* Little's law: busy slots = arrival rate x mean service time, where the mean service time is
  itself Little's law on the active set (active / completion rate); the backlog must also
  drain within the latency target, which adds backlog / target latency to the arrival rate;
* at most `target_backlog_per_replica` ready tasks per pod;
* a latency nudge (+1) when the oldest pending task is older than the target and every pod
  is ready (capacity still starting up is already on its way);
* never below what the running (active) tasks need, paused queues included.

Stabilization follows the HPA: scale up to the lowest recommendation of the up-window, down
to the highest of the down-window; additionally no scale-down within the down-window after a
scale-up or after the state began (a restarted operator never scales in on a short memory).
A scale-up wanted within the down-window after a scale-down (a flap) doubles the down-window,
up to 8x; each later scale-down (the load stayed low for the whole widened window) halves it.
A move against the previous move's direction (a reversal) waits until the base down-window has
passed since the last reversal, so there is never more than one reversal per stabilization
window, from the first cycle on; only waking from zero and returning inside the spec bounds
skip that wait (a pool at zero processes nothing, and the bounds are the user's word).
Scale to zero only after pending, active and due-soon stayed zero for the idle window.
Missing or stale metrics hold the current size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from kasynq.broker.metrics import PoolMetrics, QueueMetrics

__all__ = ["Decision", "Policy", "PoolMetrics", "QueueMetrics", "ScalerState", "decide"]

STALE_AFTER_POLLS = 3.0
RATE_WINDOW_SECONDS = 10.0
"""Arrival and completion rates are measured over this long (one poll alone is noisy)."""
MAX_DOWN_WINDOW_DAMPING = 8.0


@dataclass(frozen=True)
class Policy:
    """Autoscaling settings of one pool (spec.replicas, spec.autoscaling, spec.concurrency)."""

    min_replicas: int = 1
    max_replicas: int = 10
    concurrency: int = 10
    target_backlog_per_replica: float = 20.0
    target_latency_seconds: float = 10.0
    poll_interval_seconds: float = 2.0
    scale_up_stabilization_seconds: float = 0.0
    scale_down_stabilization_seconds: float = 120.0
    max_scale_up_step: int = 100
    scale_to_zero_idle_seconds: float = 60.0
    due_soon_lookahead_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.min_replicas < 0:
            raise ValueError(f"min_replicas must be >= 0, got {self.min_replicas}")
        if self.max_replicas < max(1, self.min_replicas):
            raise ValueError(
                f"max_replicas must be >= max(1, min_replicas={self.min_replicas}), "
                f"got {self.max_replicas}"
            )
        for name in (
            "concurrency",
            "target_backlog_per_replica",
            "target_latency_seconds",
            "poll_interval_seconds",
            "max_scale_up_step",
        ):
            value = getattr(self, name)
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    @property
    def stale_after_seconds(self) -> float:
        """A sample older than this is treated as missing."""
        return STALE_AFTER_POLLS * self.poll_interval_seconds


@dataclass(frozen=True)
class ScalerState:
    """What `decide` remembers between polls; a fresh state starts at `started_at`."""

    started_at: float
    recommendations: tuple[tuple[float, int], ...] = ()
    """(time, size) of recent recommendations, oldest first. Consecutive polls recommending the
    same size keep only the latest entry (the window queries need one time per size inside the
    window, and the latest is the one that stays inside longest): a steady pool keeps one."""
    last_scale_up_at: float | None = None
    last_scale_down_at: float | None = None
    down_window_damping: float = 1.0
    last_reversal_at: float | None = None
    """When the size last moved against the direction of the move before it."""
    flap_counted_for: float | None = None
    """The scale-down (its time) whose flap already doubled the down-window."""
    busy_at: float | None = None
    samples: tuple[PoolMetrics, ...] = ()
    """Recent samples, oldest first, covering the rate window."""


@dataclass(frozen=True)
class Decision:
    """The size to run, why, and the inputs it was computed from."""

    current_replicas: int
    desired_replicas: int
    recommended_replicas: int
    reason: str
    metrics_available: bool
    inputs: dict[str, float] = field(default_factory=dict)
    state: ScalerState | None = None

    @property
    def changed(self) -> bool:
        return self.desired_replicas != self.current_replicas


@dataclass(frozen=True)
class Demand:
    """Aggregated demand of the non-paused queues, plus in-flight work of all queues."""

    pending: int
    due_soon: int
    active: int
    latency_seconds: float
    arrival_rate: float | None
    completion_rate: float | None
    paused_queues: int

    @property
    def backlog(self) -> int:
        return self.pending + self.due_soon

    @property
    def idle(self) -> bool:
        return self.backlog == 0 and self.active == 0

    @property
    def service_seconds(self) -> float | None:
        """Mean task duration by Little's law on the active set (active / completion rate)."""
        if not self.completion_rate or self.active == 0:
            return None
        return self.active / self.completion_rate


def _rate(current: int, previous: int, seconds: float) -> float | None:
    """Per-second increase of a counter; None when it went backwards (counter reset)."""
    if current < previous:
        return None
    return (current - previous) / seconds


def measure_demand(metrics: PoolMetrics, previous: PoolMetrics | None) -> Demand:
    """Aggregate one sample; rates are measured against an earlier sample of the queues."""
    serving = [q for q in metrics.queues if not q.paused]
    pending = sum(q.pending for q in serving)
    completion_rate: float | None = None
    arrival_rate: float | None = None
    if previous is not None and metrics.taken_at > previous.taken_at:
        seconds = metrics.taken_at - previous.taken_at
        before = {q.name: q for q in previous.queues if not q.paused}
        matched = [(q, before[q.name]) for q in serving if q.name in before]
        rates = [_rate(q.processed_total, b.processed_total, seconds) for q, b in matched]
        if matched and all(r is not None for r in rates):
            completion_rate = sum(r for r in rates if r is not None)
            in_system_now = sum(q.pending + q.active for q, _ in matched)
            in_system_before = sum(b.pending + b.active for _, b in matched)
            growth = (in_system_now - in_system_before) / seconds
            arrival_rate = max(0.0, completion_rate + growth)
    return Demand(
        pending=pending,
        due_soon=sum(q.due_soon for q in serving),
        active=sum(q.active for q in metrics.queues),
        latency_seconds=max((q.latency_seconds for q in serving), default=0.0),
        arrival_rate=arrival_rate,
        completion_rate=completion_rate,
        paused_queues=len(metrics.queues) - len(serving),
    )


def _ceil(value: float) -> int:
    """Ceiling that ignores float noise (3.0000000001 -> 3)."""
    return max(0, math.ceil(value - 1e-9))


def recommend(
    policy: Policy, demand: Demand, current: int, ready: int
) -> tuple[int, str, dict[str, int]]:
    """Unbounded size each signal asks for, the largest of them, and a reason naming it."""
    terms: dict[str, int] = {}
    details: dict[str, str] = {}
    service = demand.service_seconds
    if service is not None and demand.arrival_rate is not None:
        drain_rate = demand.backlog / policy.target_latency_seconds
        terms["throughput"] = _ceil(
            (demand.arrival_rate + drain_rate) * service / policy.concurrency
        )
        details["throughput"] = (
            f"arrivals {demand.arrival_rate:.1f}/s + drain {drain_rate:.1f}/s at "
            f"{service:.2f}s per task"
        )
    terms["backlog"] = _ceil(demand.backlog / policy.target_backlog_per_replica)
    details["backlog"] = (
        f"backlog {demand.backlog} at {policy.target_backlog_per_replica:g} per replica"
    )
    terms["in-flight"] = _ceil(demand.active / policy.concurrency)
    details["in-flight"] = f"{demand.active} running tasks at concurrency {policy.concurrency}"
    if (
        demand.latency_seconds > policy.target_latency_seconds
        and demand.pending > 0
        and ready >= current > 0
    ):
        terms["latency"] = current + 1
        details["latency"] = (
            f"latency {demand.latency_seconds:.1f}s over target "
            f"{policy.target_latency_seconds:g}s with all {current} ready"
        )
    name = max(terms, key=lambda key: terms[key])
    return terms[name], f"{details[name]} -> {terms[name]}", terms


def _inputs(demand: Demand, ready: int, terms: dict[str, int]) -> dict[str, float]:
    values: dict[str, float] = {
        "pending": demand.pending,
        "dueSoon": demand.due_soon,
        "backlog": demand.backlog,
        "active": demand.active,
        "latencySeconds": round(demand.latency_seconds, 3),
        "pausedQueues": demand.paused_queues,
        "readyReplicas": ready,
    }
    optional = {
        "arrivalRate": demand.arrival_rate,
        "completionRate": demand.completion_rate,
        "serviceSeconds": demand.service_seconds,
    }
    values.update({key: round(value, 3) for key, value in optional.items() if value is not None})
    values.update({f"replicasFor_{key.replace('-', '_')}": value for key, value in terms.items()})
    return values


def _reverses(state: ScalerState, current: int, desired: int) -> bool:
    """Whether moving from `current` to `desired` goes against the previous move."""
    up, down = state.last_scale_up_at, state.last_scale_down_at
    if desired == current or (up is None and down is None):
        return False
    last_was_up = down is None or (up is not None and up > down)
    return (desired > current) != last_was_up


def hold(policy: Policy, current: int, state: ScalerState, why: str) -> Decision:
    """Keep the current size (within the spec bounds): metrics are missing or stale."""
    desired = min(max(current, policy.min_replicas), policy.max_replicas)
    return Decision(
        current_replicas=current,
        desired_replicas=desired,
        recommended_replicas=desired,
        reason=f"{why}: holding {desired} replicas",
        metrics_available=False,
        state=state,
    )


def decide(
    policy: Policy,
    current: int,
    metrics: PoolMetrics | None,
    now: float,
    state: ScalerState,
    ready: int | None = None,
) -> Decision:
    """The size the pool should run now; `ready` defaults to `current` (all pods ready)."""
    if metrics is None:
        return hold(policy, current, state, "metrics unavailable")
    age = now - metrics.taken_at
    if age > policy.stale_after_seconds:
        return hold(policy, current, state, f"metrics stale ({age:.1f}s old)")
    ready = current if ready is None else ready
    demand = measure_demand(metrics, state.samples[0] if state.samples else None)
    # Across a gap in the samples (Redis was unreachable) idleness is unknown: count as busy.
    gap = bool(state.samples) and (
        metrics.taken_at - state.samples[-1].taken_at > policy.stale_after_seconds
    )
    busy_at = state.busy_at if demand.idle and not gap else now
    idle_for = now - (busy_at if busy_at is not None else state.started_at)
    recommended, reason, terms = recommend(policy, demand, current, ready)
    bounded = min(max(recommended, policy.min_replicas), policy.max_replicas)
    if bounded == 0 and current > 0 and idle_for < policy.scale_to_zero_idle_seconds:
        bounded = 1
        reason = f"idle for {idle_for:.0f}s of {policy.scale_to_zero_idle_seconds:g}s: keeping 1"
    elif bounded != recommended:
        reason += f", bounded to [{policy.min_replicas}, {policy.max_replicas}]"

    damping = state.down_window_damping
    window = policy.scale_down_stabilization_seconds * damping
    horizon = now - max(
        policy.scale_up_stabilization_seconds,
        policy.scale_down_stabilization_seconds * MAX_DOWN_WINDOW_DAMPING,
    )
    kept = [item for item in state.recommendations if item[0] >= horizon]
    if kept and kept[-1][1] == bounded:
        kept.pop()
    history = (*kept, (now, bounded))
    up_floor = now - policy.scale_up_stabilization_seconds
    down_floor = now - window
    up_recommendation = min(size for at, size in history if at >= up_floor)
    down_recommendation = max(size for at, size in history if at >= down_floor)

    desired = current
    out_of_bounds = current > policy.max_replicas or current < policy.min_replicas
    if out_of_bounds:
        desired = min(max(current, policy.min_replicas), policy.max_replicas)
        reason += f"; current {current} outside spec bounds"
    elif current < up_recommendation:
        desired = min(up_recommendation, current + policy.max_scale_up_step)
        if desired < up_recommendation:
            reason += f", step limited to +{policy.max_scale_up_step}"
    elif bounded == 0 and idle_for >= policy.scale_to_zero_idle_seconds:
        desired = 0
        reason = f"pending, active and due-soon zero for {idle_for:.0f}s: scaling to zero"
    elif current > down_recommendation:
        recent_up = state.last_scale_up_at is not None and now - state.last_scale_up_at < window
        if now - state.started_at < window or recent_up:
            reason += f"; scale-down held: less than {window:g}s since start or last scale-up"
        else:
            desired = down_recommendation
            if down_recommendation != bounded:
                reason += f"; highest in {window:g}s window is {down_recommendation}"
    elif bounded != current:
        reason += f"; held at {current} by stabilization"

    flapped = (
        desired > current
        and state.last_scale_down_at is not None
        and now - state.last_scale_down_at < window
        and state.flap_counted_for != state.last_scale_down_at
    )
    if flapped:
        damping = min(damping * 2, MAX_DOWN_WINDOW_DAMPING)
        reason += f"; flap after a recent scale-down: down-window now {window * 2:g}s"
    reversal = _reverses(state, current, desired)
    if reversal and not out_of_bounds and current > 0:
        since = now - state.last_reversal_at if state.last_reversal_at is not None else math.inf
        if since < policy.scale_down_stabilization_seconds:
            desired = current
            reversal = False
            reason += (
                f"; held: the last direction reversal was {since:.0f}s ago, within the "
                f"{policy.scale_down_stabilization_seconds:g}s stabilization window"
            )
    if desired < current:
        damping = max(1.0, damping / 2)
    new_state = replace(
        state,
        recommendations=history,
        last_scale_up_at=now if desired > current else state.last_scale_up_at,
        last_scale_down_at=now if desired < current else state.last_scale_down_at,
        last_reversal_at=now if reversal else state.last_reversal_at,
        flap_counted_for=state.last_scale_down_at if flapped else state.flap_counted_for,
        down_window_damping=damping,
        busy_at=busy_at,
        samples=(
            *(old for old in state.samples if old.taken_at >= now - RATE_WINDOW_SECONDS),
            metrics,
        ),
    )
    return Decision(
        current_replicas=current,
        desired_replicas=desired,
        recommended_replicas=bounded,
        reason=reason,
        metrics_available=True,
        inputs=_inputs(demand, ready, terms),
        state=new_state,
    )
