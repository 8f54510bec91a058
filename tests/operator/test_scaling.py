"""Table-driven tests of the pure autoscaling policy (no Redis, no Kubernetes)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, replace

import pytest
from kasynq_operator.scaling import (
    Decision,
    Policy,
    PoolMetrics,
    QueueMetrics,
    ScalerState,
    decide,
)

POLICY = Policy(min_replicas=1, max_replicas=10, concurrency=10)


def pool(at: float, *queues: QueueMetrics) -> PoolMetrics:
    return PoolMetrics(taken_at=at, queues=queues)


def queue(name: str = "t:q", /, **fields: object) -> QueueMetrics:
    return QueueMetrics(name, **fields)  # type: ignore[arg-type]


@dataclass
class Case:
    name: str
    current: int
    metrics: PoolMetrics | None
    expected: int
    policy: Policy = POLICY
    previous: PoolMetrics | None = None
    ready: int | None = None
    reason_contains: str = ""


SINGLE_POLL = [
    Case("burst capped by max", 1, pool(100, queue(pending=1000)), 10, reason_contains="backlog"),
    Case(
        "burst within max jumps in one step",
        1,
        pool(100, queue(pending=1000)),
        50,
        policy=Policy(max_replicas=100),
    ),
    Case(
        "max scale-up step",
        1,
        pool(100, queue(pending=1000)),
        5,
        policy=Policy(max_replicas=100, max_scale_up_step=4),
        reason_contains="step limited",
    ),
    Case(
        "due-soon scheduled and retry tasks pre-scale",
        1,
        pool(100, queue(due_soon=200)),
        10,
    ),
    Case(
        "Little's law: 150/s arrivals at 0.2 s per task on concurrency 10",
        1,
        pool(101, queue(active=20, processed_total=1100, pending=50)),
        4,
        previous=pool(100, queue(active=20, processed_total=1000, pending=0)),
        policy=Policy(max_replicas=100, target_backlog_per_replica=1000),
        reason_contains="arrivals 150.0/s",
    ),
    Case(
        "never below what running tasks need",
        6,
        pool(100, queue(active=55)),
        6,
        reason_contains="running tasks",
    ),
    Case(
        "paused queue's backlog is not counted", 1, pool(100, queue(pending=1000, paused=True)), 1
    ),
    Case(
        "paused queue's running tasks still hold pods",
        1,
        pool(100, queue(active=30, paused=True)),
        3,
    ),
    Case(
        "latency over target nudges +1 when all pods are ready",
        3,
        pool(100, queue(pending=5, latency_seconds=30)),
        4,
        reason_contains="latency",
    ),
    Case(
        "no latency nudge while pods are still starting",
        3,
        pool(100, queue(pending=5, latency_seconds=30)),
        3,
        ready=1,
    ),
    Case("missing metrics hold", 7, None, 7, reason_contains="unavailable"),
    Case("stale metrics hold", 7, pool(90, queue(pending=1000)), 7, reason_contains="stale"),
    Case("missing metrics still respect a lowered max", 12, None, 10),
    Case(
        "counter reset gives no rate, backlog still counts",
        1,
        pool(101, queue(pending=100, active=5, processed_total=3)),
        5,
        previous=pool(100, queue(pending=0, active=5, processed_total=500)),
    ),
    Case("below min goes to min", 0, pool(100, queue()), 1),
]


@pytest.mark.parametrize("case", SINGLE_POLL, ids=[case.name for case in SINGLE_POLL])
def test_single_poll_decisions(case: Case) -> None:
    samples = () if case.previous is None else (case.previous,)
    state = ScalerState(started_at=0.0, samples=samples)
    decision = decide(
        case.policy, case.current, case.metrics, now=100.0, state=state, ready=case.ready
    )
    assert decision.desired_replicas == case.expected, decision.reason
    assert case.reason_contains in decision.reason
    assert decision.metrics_available == (case.metrics is not None and "stale" not in case.name)


def run(
    policy: Policy, current: int, samples: Iterable[tuple[float, PoolMetrics | None]], start: float
) -> list[Decision]:
    """Feed samples in order, applying each decision as the next current size."""
    state = ScalerState(started_at=start)
    decisions = []
    for now, metrics in samples:
        decision = decide(policy, current, metrics, now, state)
        assert decision.state is not None
        state = decision.state if decision.metrics_available else state
        current = decision.desired_replicas
        decisions.append(decision)
    return decisions


def polls(start: float, end: float, every: float, make: object) -> list[tuple[float, PoolMetrics]]:
    assert callable(make)
    times = [start + i * every for i in range(int((end - start) / every) + 1)]
    return [(t, pool(t, make(t))) for t in times]


def sizes(decisions: list[Decision]) -> list[int]:
    return [d.desired_replicas for d in decisions]


def test_a_drained_backlog_returns_to_min_once_three_idle_polls_prove_it() -> None:
    """An empty backlog with nothing running for three polls proves the pods idle: no need to
    wait out the down-window (the burst scenario held 10 idle pods for 120 s: 2.3x the
    oracle's pod-seconds)."""
    policy = Policy(max_replicas=10, scale_down_stabilization_seconds=60)
    busy = polls(0, 10, 2, lambda t: queue(pending=1000))
    drained = polls(12, 40, 2, lambda t: queue())
    decisions = run(policy, 1, busy + drained, start=-600)
    by_time = dict(zip([t for t, _ in busy + drained], sizes(decisions), strict=True))
    assert by_time[0] == 10
    assert by_time[16] == 10, "scale-down on less than three polls of an empty backlog"
    assert by_time[18] == 1
    assert "backlog empty for 6s" in decisions[3 + len(busy)].reason


def test_a_backlog_that_never_empties_returns_to_min_only_after_the_window() -> None:
    """Without that proof the estimate may be noise: the down-window holds the size."""
    policy = Policy(max_replicas=10, scale_down_stabilization_seconds=60)
    busy = polls(0, 10, 2, lambda t: queue(pending=1000))
    trickle = polls(12, 120, 2, lambda t: queue(pending=5))
    decisions = run(policy, 1, busy + trickle, start=-600)
    by_time = dict(zip([t for t, _ in busy + trickle], sizes(decisions), strict=True))
    assert by_time[0] == 10
    assert by_time[68] == 10, "scale-down before the 60 s window after the last busy poll"
    assert by_time[72] == 1


def test_idle_evidence_sizes_for_the_most_tasks_running_at_once() -> None:
    """Tasks running, nothing waiting: the peak of the running tasks over the evidence polls
    (at 90 % of the slots) is the size, not what runs at the moment."""
    policy = Policy(max_replicas=10, concurrency=10, scale_down_stabilization_seconds=120)
    busy = polls(0, 4, 2, lambda t: queue(pending=1000))
    running = dict(zip((6, 8, 10, 12), (28, 12, 5, 5), strict=True))
    tail = polls(6, 12, 2, lambda t: queue(active=running[int(t)]))
    decisions = run(policy, 1, busy + tail, start=-600)
    assert sizes(decisions) == [10, 10, 10, 10, 10, 10, 4], decisions[-1].reason  # 28 / 9


def test_restarted_operator_does_not_scale_in_before_a_full_window() -> None:
    policy = Policy(scale_down_stabilization_seconds=60)
    decisions = run(policy, 8, polls(0, 58, 2, lambda t: queue(pending=5)), start=0)
    assert set(sizes(decisions)) == {8}
    assert "held" in decisions[0].reason


def test_restarted_operator_keeps_a_steady_size() -> None:
    steady = polls(0, 30, 2, lambda t: queue(pending=80))
    assert set(sizes(run(Policy(), 4, steady, start=0))) == {4}


def test_scale_up_stabilization_ignores_a_single_spike() -> None:
    policy = Policy(scale_up_stabilization_seconds=10)
    quiet = polls(0, 20, 2, lambda t: queue())
    spike = [(22.0, pool(22, queue(pending=1000))), (24.0, pool(24, queue()))]
    assert set(sizes(run(policy, 1, quiet + spike, start=-600))) == {1}


@pytest.mark.parametrize(
    "blocker",
    [{"pending": 1}, {"active": 1}, {"due_soon": 1}],
    ids=["pending", "active", "due-soon"],
)
def test_never_scales_to_zero_while_work_exists(blocker: dict[str, int]) -> None:
    policy = Policy(
        min_replicas=0, scale_to_zero_idle_seconds=10, scale_down_stabilization_seconds=0
    )
    decisions = run(policy, 1, polls(0, 100, 2, lambda t: queue(**blocker)), start=-600)
    assert min(sizes(decisions)) == 1


def test_scales_to_zero_after_the_idle_window_only() -> None:
    policy = Policy(
        min_replicas=0, scale_to_zero_idle_seconds=30, scale_down_stabilization_seconds=300
    )
    busy = polls(0, 4, 2, lambda t: queue(active=1))
    idle = polls(6, 60, 2, lambda t: queue())
    decisions = run(policy, 1, busy + idle, start=-600)
    by_time = dict(zip([t for t, _ in busy + idle], sizes(decisions), strict=True))
    assert by_time[32] == 1, "idle for only 28 s"
    assert by_time[34] == 0
    assert "zero" in decisions[-1].reason


def test_an_outage_does_not_count_as_idle_time() -> None:
    policy = Policy(
        min_replicas=0, scale_to_zero_idle_seconds=30, scale_down_stabilization_seconds=0
    )
    before = polls(0, 10, 2, lambda t: queue(active=1))
    outage: list[tuple[float, PoolMetrics | None]] = [(t, None) for t in range(12, 100, 2)]
    after = polls(100, 128, 2, lambda t: queue())
    decisions = run(policy, 1, [*before, *outage, *after], start=-600)
    assert min(sizes(decisions)) == 1, "scaled to zero counting the outage as idle"


def test_wakes_from_zero_on_the_first_pending_task() -> None:
    policy = Policy(min_replicas=0)
    assert sizes(run(policy, 0, [(0.0, pool(0, queue(pending=1)))], start=-600)) == [1]


def test_idle_pool_at_zero_stays_at_zero() -> None:
    policy = Policy(min_replicas=0)
    assert set(sizes(run(policy, 0, polls(0, 20, 2, lambda t: queue()), start=0))) == {0}


def direction_changes(values: list[int], times: list[float]) -> list[float]:
    """Times at which the size moved in the opposite direction of its previous move."""
    reversals, last_direction = [], 0
    for before, after, at in zip(values, values[1:], times[1:], strict=False):
        direction = (after > before) - (after < before)
        if direction and last_direction and direction != last_direction:
            reversals.append(at)
        last_direction = direction or last_direction
    return reversals


@pytest.mark.parametrize("period", [20.0, 60.0, 110.0, 240.0, 300.0, 400.0, 600.0])
def test_oscillating_load_reverses_at_most_once_per_window(period: float) -> None:
    """Over an hour of square-wave load, consecutive direction reversals are at least one
    stabilization window apart, from the first cycle on."""
    window = 120.0
    policy = Policy(max_replicas=20, scale_down_stabilization_seconds=window)

    def square_wave(t: float) -> QueueMetrics:
        return queue(pending=300 if (t % period) < period / 2 else 20)

    samples = polls(0, 3600, 2, square_wave)
    values = sizes(run(policy, 1, samples, start=-600))
    reversals = direction_changes([1, *values], [-2.0, *(t for t, _ in samples)])
    assert all(b - a >= window for a, b in itertools.pairwise(reversals)), reversals


REVERSAL_WINDOW = 60.0
REVERSAL_POLICY = Policy(max_replicas=20, scale_down_stabilization_seconds=REVERSAL_WINDOW)
AFTER_UP_THEN_DOWN = ScalerState(
    started_at=-600, last_scale_up_at=0.0, last_scale_down_at=70.0, last_reversal_at=70.0
)


@pytest.mark.parametrize(
    ("name", "current", "now", "state", "expected", "reason_contains"),
    [
        ("up right after a reversing scale-down is held", 2, 80.0, AFTER_UP_THEN_DOWN, 2, "held"),
        ("up one window after that reversal goes ahead", 2, 130.0, AFTER_UP_THEN_DOWN, 15, ""),
        (
            "up after a scale-down that did not reverse goes ahead",
            2,
            80.0,
            ScalerState(started_at=-600, last_scale_down_at=70.0, last_reversal_at=-100.0),
            15,
            "",
        ),
        (
            "waking from zero is never held",
            0,
            80.0,
            replace(AFTER_UP_THEN_DOWN, last_scale_down_at=75.0),
            15,
            "",
        ),
    ],
)
def test_a_reversal_waits_one_window_after_the_last(
    name: str, current: int, now: float, state: ScalerState, expected: int, reason_contains: str
) -> None:
    policy = replace(REVERSAL_POLICY, min_replicas=0)
    decision = decide(policy, current, pool(now, queue(pending=300)), now, state)
    assert decision.desired_replicas == expected, decision.reason
    assert reason_contains in decision.reason


def test_slow_oscillation_scales_down_at_most_once_per_window() -> None:
    window = 60.0
    policy = Policy(max_replicas=20, scale_down_stabilization_seconds=window)

    def square_wave(t: float) -> QueueMetrics:
        return queue(pending=300 if (t % 200) < 100 else 0)

    samples = polls(0, 1200, 2, square_wave)
    values = sizes(run(policy, 1, samples, start=-600))
    times = [t for t, _ in samples]
    downs = [t for t, a, b in zip(times[1:], values, values[1:], strict=False) if b < a]
    assert downs, "the slow wave should let the pool shrink"
    assert all(b - a >= window for a, b in itertools.pairwise(downs))


def test_a_steady_pool_remembers_one_recommendation() -> None:
    """200 pools polled every 2 s would otherwise each keep 480 entries (8 down-windows)."""
    steady = polls(0, 1800, 2, lambda t: queue(pending=80))
    decisions = run(Policy(), 4, steady, start=-600)
    assert set(sizes(decisions)) == {4}
    final = decisions[-1].state
    assert final is not None and final.recommendations == ((1800.0, 4),)


def test_rates_are_measured_over_the_window_not_one_poll() -> None:
    """A burst of completions in one poll does not read as a sustained rate."""
    totals = {0: 0, 2: 0, 4: 0, 6: 0, 8: 200}
    samples = [
        (float(t), pool(t, queue(active=10, processed_total=total))) for t, total in totals.items()
    ]
    decisions = run(Policy(max_replicas=100), 1, samples, start=-600)
    assert decisions[-1].inputs["completionRate"] == pytest.approx(200 / 8)


def test_decision_records_inputs() -> None:
    decision = decide(
        POLICY, 1, pool(0, queue(pending=7, due_soon=3, active=2)), 0.0, ScalerState(-600)
    )
    assert decision.inputs["backlog"] == 10
    assert decision.inputs["active"] == 2
    assert decision.inputs["replicasFor_backlog"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas"),
        ({"target_latency_seconds": 0}, "target_latency_seconds must be > 0, got 0"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_policy_rejects_bad_settings(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_scale_in_keeps_every_busy_pod() -> None:
    """8 -> 1 once removed two pods each running a 90 s task: 2 tasks at concurrency 10 need
    one pod, but they run on two."""
    policy = Policy(scale_down_stabilization_seconds=0)
    state = ScalerState(started_at=-600)
    metrics = pool(0, queue(active=2))
    blind = decide(policy, 8, metrics, 0.0, state)
    assert blind.desired_replicas == 1
    decision = decide(policy, 8, metrics, 0.0, state, busy_pods=2)
    assert decision.desired_replicas == 2, decision.reason
    assert "2 pods are running tasks" in decision.reason
    assert decide(policy, 1, metrics, 0.0, state, busy_pods=2).desired_replicas == 1


def test_service_time_does_not_wait_for_completions() -> None:
    """Load starts: 1 s tasks at 15/s on one pod of 5 slots. Dividing by completions that lag
    read the service time several times too long and recommended 13 pods where 4 suffice."""
    policy = Policy(max_replicas=50, concurrency=5)
    samples = [(0.0, pool(0, queue()))]
    samples += [
        (t, pool(t, queue(active=5, pending=10 * int(t), processed_total=5 * int(t) - 5)))
        for t in (2.0, 4.0, 6.0)
    ]
    decisions = run(policy, 1, samples, start=-600)
    assert max(sizes(decisions)) <= 1.25 * 4 + 1, [d.reason for d in decisions]
    assert decisions[-1].inputs["serviceSeconds"] <= 1.0


def test_a_schedule_tick_wakes_a_pool_at_zero() -> None:
    policy = Policy(min_replicas=0, due_soon_lookahead_seconds=30)
    state = ScalerState(started_at=-600)
    idle = pool(0, queue())
    assert decide(policy, 0, idle, 0.0, state, next_schedule_in=45).desired_replicas == 0
    woken = decide(policy, 0, idle, 0.0, state, next_schedule_in=20)
    assert woken.desired_replicas == 1
    assert woken.inputs["dueSoon"] == 1


def test_the_schedule_lead_is_the_observed_start_up_plus_a_poll() -> None:
    """Woken `dueSoonLookaheadSeconds` (30 s) before every tick, a pool of 2 s ticks ran 6.8x
    the oracle's pod-seconds; once a start-up was seen, the lead is that plus one poll."""
    policy = Policy(min_replicas=0, due_soon_lookahead_seconds=30)
    first = decide(policy, 0, pool(0, queue()), 0.0, ScalerState(-600), 0, next_schedule_in=30)
    assert first.desired_replicas == 1, "no start-up seen yet: the lookahead stands in"
    assert first.state is not None
    starting = decide(policy, 1, pool(2, queue()), 2.0, first.state, 0, next_schedule_in=28)
    assert starting.state is not None and starting.state.startup_seconds is None
    up = decide(policy, 1, pool(4, queue()), 4.0, starting.state, 1, next_schedule_in=26)
    assert up.state is not None and up.state.startup_seconds == 4.0
    far = decide(policy, 0, pool(200, queue()), 200.0, up.state, 0, next_schedule_in=20)
    assert far.desired_replicas == 0, far.reason
    near = decide(policy, 0, pool(200, queue()), 200.0, up.state, 0, next_schedule_in=6)
    assert near.desired_replicas == 1, near.reason


@pytest.mark.parametrize(("seen_at", "expected"), [(102.0, 3.0), (110.0, 10.0)])
def test_a_longer_start_up_counts_at_once_a_shorter_one_halfway(
    seen_at: float, expected: float
) -> None:
    """Waking late delays a tick; one fast start proves little."""
    state = ScalerState(started_at=-600, startup_seconds=4.0, waking_since=100.0)
    decision = decide(Policy(min_replicas=0), 1, pool(seen_at, queue()), seen_at, state, 1)
    assert decision.state is not None
    assert decision.state.startup_seconds == expected
    assert decision.state.waking_since is None


def tick_cycle(first: QueueMetrics, ticked: dict[float, QueueMetrics]) -> dict[float, int]:
    """A pool at zero (idle window 60 s, down-window 120 s) polled every 2 s from 0 to 40 s with
    a tick at 30 s; `first` is sampled at 0 s, `ticked` at the given times, else nothing is
    pending or running. Returns the size decided at each poll."""
    policy = Policy(min_replicas=0, concurrency=5)
    state, current, sizes = ScalerState(started_at=-600), 0, {}
    for now in range(0, 42, 2):
        sample = first if now == 0 else ticked.get(now, queue(processed_total=0))
        ticks_in = 30.0 - now if now < 30 else 180.0 - now
        decision = decide(policy, current, pool(now, sample), now, state, next_schedule_in=ticks_in)
        assert decision.state is not None
        state, current = decision.state, decision.desired_replicas
        sizes[now] = current
    return sizes


def test_a_pool_woken_for_a_tick_goes_back_to_zero_once_the_tick_ran() -> None:
    """Not after `scaleToZeroIdleSeconds` of idling, and not before the tick's task completed
    (the scheduler may enqueue it seconds after the tick time)."""
    done = queue(processed_total=1)
    late = {32: queue(pending=1), 34: queue(active=1), 36: done, 38: done, 40: done}
    sizes = tick_cycle(queue(), late)
    assert sizes[0] == 1
    assert [sizes[t] for t in (30, 32, 34)] == [1, 1, 1], sizes
    assert sizes[36] == 0, sizes


def test_a_wake_for_more_than_the_tick_keeps_the_idle_window() -> None:
    """Tasks that were pending beside the tick are not foreseen: they get the idle window."""
    done = queue(processed_total=4)
    sizes = tick_cycle(queue(pending=3), {30: queue(active=1), 32: done, 34: done, 36: done})
    assert sizes[0] == 1
    assert set(list(sizes.values())[1:]) == {1}, sizes


def test_tasks_of_dead_servers_hold_no_pods() -> None:
    """After a Redis outage, dead servers' tasks stay in the active list until the recoverer
    moves them; their leases expired, so they are not in flight."""
    policy = Policy(concurrency=1, scale_down_stabilization_seconds=0)
    stale = pool(0, queue(active=8, in_flight=2))
    decision = decide(policy, 8, stale, 0.0, ScalerState(started_at=-600))
    assert decision.desired_replicas == 2, decision.reason
    assert decision.inputs["active"] == 2
