"""Scenario inputs of the queue simulator: arrival profiles and service-time distributions.

Everything is drawn from one `random.Random(seed)`, so a scenario and a seed always give the
same tasks. Arrivals are a non-homogeneous Poisson process (thinning against the profile's
peak rate) plus instantaneous bursts.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

RateProfile = Callable[[float], float]
"""Arrival rate (tasks/s) at a time (s since the start of the scenario)."""


@dataclass(frozen=True)
class Arrivals:
    """A rate profile, its peak (for thinning) and instantaneous bursts (time, count)."""

    rate: RateProfile
    peak_rate: float
    bursts: tuple[tuple[float, int], ...] = ()
    label: str = ""


def steady(rate: float) -> Arrivals:
    return Arrivals(lambda t: rate, rate, label=f"steady {rate:g}/s")


def window(rate: float, begin: float, end: float) -> Arrivals:
    """`rate` between `begin` and `end`, nothing before or after."""
    return Arrivals(
        lambda t: rate if begin <= t < end else 0.0,
        rate,
        label=f"{rate:g}/s from {begin:g}s to {end:g}s",
    )


def burst(base: float, at: float, count: int) -> Arrivals:
    return Arrivals(lambda t: base, base, ((at, count),), f"{count} at {at:g}s on {base:g}/s")


def ramp(start_rate: float, end_rate: float, begin: float, end: float) -> Arrivals:
    """`start_rate` until `begin`, linear to `end_rate` at `end`, then `end_rate`."""

    def rate(t: float) -> float:
        share = min(1.0, max(0.0, (t - begin) / (end - begin)))
        return start_rate + share * (end_rate - start_rate)

    label = f"ramp {start_rate:g}->{end_rate:g}/s"
    return Arrivals(rate, max(start_rate, end_rate), label=label)


def daily_sine(mean: float, amplitude: float, period: float) -> Arrivals:
    """A compressed day: mean + amplitude * sin, one cycle per `period` seconds."""

    def rate(t: float) -> float:
        return max(0.0, mean + amplitude * math.sin(2 * math.pi * t / period))

    return Arrivals(rate, mean + amplitude, label=f"sine {mean:g}+-{amplitude:g}/s")


def spikes(base: float, spike_rate: float, every: float, length: float) -> Arrivals:
    """`base` plus `spike_rate` for `length` seconds at the start of every `every` seconds."""

    def rate(t: float) -> float:
        return base + (spike_rate if (t % every) < length else 0.0)

    label = f"{base:g}/s, spikes +{spike_rate:g}/s"
    return Arrivals(rate, base + spike_rate, label=label)


ServiceDraw = Callable[[random.Random], float]


@dataclass(frozen=True)
class Service:
    """A service-time distribution with its mean (seconds)."""

    draw: ServiceDraw
    mean: float
    label: str


def constant(seconds: float) -> Service:
    return Service(lambda rng: seconds, seconds, f"constant {seconds:g}s")


def exponential(mean: float) -> Service:
    return Service(lambda rng: rng.expovariate(1 / mean), mean, f"exponential {mean:g}s")


def lognormal(mean: float, sigma: float) -> Service:
    """Heavy-tailed: lognormal with the given mean and shape `sigma`."""
    mu = math.log(mean) - sigma * sigma / 2
    return Service(lambda rng: rng.lognormvariate(mu, sigma), mean, f"lognormal {mean:g}s")


@dataclass(frozen=True)
class Task:
    arrival: float
    service: float


@dataclass(frozen=True)
class Scenario:
    """One simulated situation: the load, the pool and the observation conditions."""

    name: str
    arrivals: Arrivals
    service: Service
    duration: float = 600.0
    concurrency: int = 5
    min_replicas: int = 1
    max_replicas: int = 50
    initial_replicas: int = 1
    startup_seconds: tuple[float, float] = (1.0, 1.0)
    """Pod start-up delay, uniform in [low, high]: 1 s like the stand-in, 10-30 s like a
    cluster pulling an image."""
    target_latency_seconds: float = 10.0
    sample_age_seconds: float = 0.0
    """How old each metrics sample is when the policy sees it."""
    freezes: tuple[tuple[float, float], ...] = ()
    """(start, end) periods during which Redis answers nothing (no samples, no arrivals)."""
    hand_edits: tuple[tuple[float, int], ...] = ()
    """(time, size): someone sets the Deployment's replicas by hand (`kubectl scale deploy`)."""
    schedules_every: float | None = None
    """A cron entry `@every N s` run by the leader-elected scheduler inside the worker pods."""
    seed: int = 1
    autoscaling: dict[str, float] = field(default_factory=dict)
    """Extra Policy settings (snake_case field names)."""

    def tasks(self) -> list[Task]:
        """The scenario's tasks (cron tasks excluded), sorted by arrival."""
        rng = random.Random(self.seed)
        arrivals: list[float] = []
        t = 0.0
        peak = self.arrivals.peak_rate
        while peak > 0:
            t += rng.expovariate(peak)
            if t >= self.duration:
                break
            if rng.random() * peak < self.arrivals.rate(t):
                arrivals.append(t)
        for at, count in self.arrivals.bursts:
            arrivals.extend([at] * count)
        arrivals = [at for at in sorted(arrivals) if not self._frozen(at)]
        return [Task(at, max(0.001, self.service.draw(rng))) for at in arrivals]

    def _frozen(self, at: float) -> bool:
        return any(start <= at < end for start, end in self.freezes)

    def frozen(self, at: float) -> bool:
        """Whether Redis is unreachable at `at`."""
        return self._frozen(at)

    def startup(self, rng: random.Random) -> float:
        low, high = self.startup_seconds
        return rng.uniform(low, high)
