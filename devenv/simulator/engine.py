"""The queue simulator's clock loop: tasks arrive, pods start, fetch, finish and are removed.

A `Controller` is asked for a size every `poll_seconds` with the metrics the operator reads
(`PoolMetrics`: pending, active, due-soon, completion counter, oldest pending age) plus the
per-pod busy slots as they are at the poll (each kasynq server rewrites its busy count when it
changes, docs/wire-protocol.md §12.11). Scale-in picks victims as the ReplicaSet does
(`controller.getPodsToDelete`: not-ready first, then the lowest `pod-deletion-cost`, then the
newest); a victim stops fetching, finishes what it runs within the shutdown timeout and
requeues the rest (asynq `Server.Shutdown`), which counts as interrupted work.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from kasynq.broker.metrics import PoolMetrics, QueueMetrics

from devenv.simulator.workload import Scenario, Task

TICK_SECONDS = 0.1
SHUTDOWN_TIMEOUT_SECONDS = 8.0
"""asynq `Config.ShutdownTimeout` default."""
QUEUE = "sim"


@dataclass
class Pod:
    name: str
    created: float
    ready_at: float
    running: dict[int, float] = field(default_factory=dict)
    """task index -> end time"""
    stopping_since: float | None = None

    def ready(self, now: float) -> bool:
        return now >= self.ready_at

    def idle(self) -> bool:
        return not self.running


@dataclass(frozen=True)
class View:
    """What a controller sees at one poll."""

    now: float
    current: int
    ready: int
    metrics: PoolMetrics | None
    busy: Mapping[str, int]
    """Busy slots per pod right now (the servers' busy counts)."""
    next_schedule_in: float | None


class Controller(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def poll_seconds(self) -> float: ...

    def desired(self, view: View) -> int:
        """The size to run."""

    def deletion_costs(self, view: View) -> Mapping[str, int]:
        """The pod-deletion-cost of each pod when scaling in (missing pods cost 0)."""


@dataclass
class Trace:
    """Per-second time series of one run."""

    times: list[float] = field(default_factory=list)
    replicas: list[int] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    """Age of the oldest pending task."""


@dataclass
class Outcome:
    """Everything measured in one run, before scoring."""

    controller: str
    pickup_latencies: list[float]
    pod_seconds: float
    decisions: list[tuple[float, int]]
    busy_pods_removed: int
    busy_removed_while_idle: int
    tasks_interrupted: int
    cron_runs: int
    cron_missed: int
    trace: Trace


class Simulation:
    """One scenario under one controller; `run` advances the clock to the end."""

    def __init__(self, scenario: Scenario, controller: Controller) -> None:
        self.scenario = scenario
        self.controller = controller
        self.rng = random.Random(scenario.seed * 7919 + 17)
        self.tasks: list[Task] = scenario.tasks()
        self.started: dict[int, float] = {}
        self.pending: deque[int] = deque()
        self.pods: list[Pod] = []
        self.stopping: list[Pod] = []
        self.processed = 0
        self.pod_count = 0
        self.snapshots: deque[PoolMetrics] = deque()
        self.outcome = Outcome(controller.name, [], 0.0, [], 0, 0, 0, 0, 0, Trace())
        for _ in range(scenario.initial_replicas):
            self._add_pod(-3600.0, ready_at=-3600.0)

    def _add_pod(self, now: float, ready_at: float | None = None) -> None:
        self.pod_count += 1
        start = now + self.scenario.startup(self.rng) if ready_at is None else ready_at
        self.pods.append(Pod(f"pod-{self.pod_count}", now, start))

    def _cron_fires(self, now: float) -> bool:
        every = self.scenario.schedules_every
        if every is None:
            return False
        return math.floor(now / every) != math.floor((now - TICK_SECONDS) / every)

    def next_schedule_in(self, now: float) -> float | None:
        every = self.scenario.schedules_every
        if every is None:
            return None
        return (math.floor(now / every) + 1) * every - now

    def run(self) -> Outcome:
        ticks = round(self.scenario.duration / TICK_SECONDS)
        arrivals = 0
        poll_every = round(self.controller.poll_seconds / TICK_SECONDS)
        trace_every = round(1.0 / TICK_SECONDS)
        for tick in range(1, ticks + 1):
            now = tick * TICK_SECONDS
            self._finish(now)
            self._stop(now)
            while arrivals < len(self.tasks) and self.tasks[arrivals].arrival <= now:
                self.pending.append(arrivals)
                arrivals += 1
            self._cron(now)
            self._dispatch(now)
            self.snapshots.append(self._sample(now))
            while self.snapshots[0].taken_at < now - self.scenario.sample_age_seconds - 1:
                self.snapshots.popleft()
            for at, size in self.scenario.hand_edits:
                if now - TICK_SECONDS < at <= now:
                    self._resize(now, size, {})
            if tick % poll_every == 0:
                self._poll(now)
            if tick % trace_every == 0:
                self._trace(now)
            self.outcome.pod_seconds += (len(self.pods) + len(self.stopping)) * TICK_SECONDS
        end = self.scenario.duration
        for index, task in enumerate(self.tasks):
            started = self.started.get(index, end)
            self.outcome.pickup_latencies.append(max(0.0, started - task.arrival))
        return self.outcome

    def _finish(self, now: float) -> None:
        for pod in (*self.pods, *self.stopping):
            done = [index for index, ends in pod.running.items() if ends <= now]
            for index in done:
                del pod.running[index]
                self.processed += 1

    def _stop(self, now: float) -> None:
        """Stopping pods leave once idle or at the shutdown timeout, requeueing what runs."""
        keep = []
        for pod in self.stopping:
            assert pod.stopping_since is not None
            if pod.running and now - pod.stopping_since < SHUTDOWN_TIMEOUT_SECONDS:
                keep.append(pod)
                continue
            self.outcome.tasks_interrupted += len(pod.running)
            self.pending.extendleft(sorted(pod.running))  # asynq requeues to the head
        self.stopping = keep

    def _cron(self, now: float) -> None:
        """The scheduler runs inside a ready pod (leader-elected): no pod, no tick."""
        if not self._cron_fires(now):
            return
        if any(pod.ready(now) for pod in self.pods):
            self.tasks.append(Task(now, self.scenario.service.mean))
            self.pending.append(len(self.tasks) - 1)
            self.outcome.cron_runs += 1
        else:
            self.outcome.cron_missed += 1

    def _dispatch(self, now: float) -> None:
        if self.scenario.frozen(now):
            return
        free = [
            pod
            for pod in self.pods
            if pod.ready(now) and len(pod.running) < self.scenario.concurrency
        ]
        while self.pending and free:
            pod = free[self.rng.randrange(len(free))]
            index = self.pending.popleft()
            self.started.setdefault(index, now)
            pod.running[index] = now + self.tasks[index].service
            if len(pod.running) >= self.scenario.concurrency:
                free.remove(pod)

    def _sample(self, now: float) -> PoolMetrics:
        oldest = self.tasks[self.pending[0]].arrival if self.pending else now
        due_soon = 0
        active = sum(len(pod.running) for pod in (*self.pods, *self.stopping))
        queue = QueueMetrics(
            QUEUE,
            pending=len(self.pending),
            active=active,
            due_soon=due_soon,
            latency_seconds=now - oldest,
            processed_total=self.processed,
        )
        return PoolMetrics(taken_at=now, queues=(queue,))

    def _view(self, now: float) -> View:
        metrics: PoolMetrics | None = None
        if not self.scenario.frozen(now):
            seen = now - self.scenario.sample_age_seconds
            metrics = next(
                (s for s in self.snapshots if s.taken_at >= seen - 1e-9), self.snapshots[-1]
            )
        return View(
            now=now,
            current=len(self.pods),
            ready=sum(pod.ready(now) for pod in self.pods),
            metrics=metrics,
            busy={pod.name: len(pod.running) for pod in self.pods},
            next_schedule_in=self.next_schedule_in(now),
        )

    def _poll(self, now: float) -> None:
        view = self._view(now)
        desired = max(0, self.controller.desired(view))
        self.outcome.decisions.append((now, desired))
        self._resize(now, desired, self.controller.deletion_costs(view))

    def _resize(self, now: float, size: int, costs: Mapping[str, int]) -> None:
        while len(self.pods) < size:
            self._add_pod(now)
        if len(self.pods) > size:
            self._scale_in(now, len(self.pods) - size, costs)

    def _scale_in(self, now: float, count: int, costs: Mapping[str, int]) -> None:
        ranked = sorted(
            self.pods, key=lambda pod: (pod.ready(now), costs.get(pod.name, 0), -pod.created)
        )
        victims, self.pods = ranked[:count], ranked[count:]
        idle_left = any(pod.idle() for pod in self.pods)
        for pod in victims:
            pod.stopping_since = now
            if not pod.idle():
                self.outcome.busy_pods_removed += 1
                self.outcome.busy_removed_while_idle += idle_left
            self.stopping.append(pod)

    def _trace(self, now: float) -> None:
        trace = self.outcome.trace
        trace.times.append(now)
        trace.replicas.append(len(self.pods))
        trace.latency.append(self._sample(now).queues[0].latency_seconds)
