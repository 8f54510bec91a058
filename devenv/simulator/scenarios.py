"""The named scenarios the policy is scored on (tests/simulator and `make bench`)."""

from __future__ import annotations

from devenv.simulator.workload import (
    Scenario,
    burst,
    constant,
    daily_sine,
    exponential,
    lognormal,
    ramp,
    spikes,
    steady,
)

STAND_IN_STARTUP = (1.0, 1.0)
CLUSTER_STARTUP = (10.0, 30.0)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("load-starts", ramp(0, 15, 60, 60.001), constant(1.0), duration=600),
    Scenario("burst", burst(2, 120, 1000), exponential(0.5), duration=600),
    Scenario("ramp", ramp(2, 40, 60, 360), exponential(1.0), concurrency=10, duration=600),
    Scenario(
        "daily-sine", daily_sine(20, 15, 600), lognormal(1.0, 1.0), concurrency=10, duration=1200
    ),
    Scenario("spikes", spikes(5, 40, 150, 15), constant(0.5), duration=900),
    Scenario(
        "slow-start",
        ramp(0, 15, 60, 60.001),
        constant(1.0),
        startup_seconds=CLUSTER_STARTUP,
        target_latency_seconds=30,
        duration=600,
    ),
    Scenario("stale-samples", steady(15), exponential(1.0), sample_age_seconds=4, duration=600),
    Scenario("redis-freeze", steady(15), constant(1.0), freezes=((200, 230),), duration=600),
    Scenario("hand-edit", steady(15), constant(1.0), hand_edits=((200, 1),), duration=600),
    Scenario(
        "long-tasks-drop",
        ramp(0.25, 0.02, 200, 201),
        constant(90.0),
        concurrency=2,
        target_latency_seconds=30,
        duration=900,
    ),
    Scenario(
        "cron-at-zero",
        steady(0),
        constant(2.0),
        min_replicas=0,
        initial_replicas=0,
        schedules_every=150,
        duration=600,
    ),
)


def by_name(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no scenario named {name!r}; known: {[s.name for s in SCENARIOS]}")
