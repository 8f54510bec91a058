"""Prometheus metrics of one worker server (served on `/metrics` by `httpserver`).

Each Server owns its own registry so that several servers in one process (tests, embedding)
do not collide on metric names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)
PICKUP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300)


@dataclass(frozen=True, slots=True)
class TaskTypeMetrics:
    """The labelled children for one (queue, task type), looked up once and cached."""

    processed: Any
    failed: Any
    retried: Any
    archived: Any
    duration: Any


class ServerMetrics:
    """Counters, gauges and histograms the processor updates as tasks move."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.processed = Counter(
            "kasynq_tasks_processed",
            "Tasks whose handler finished (success or failure), by queue and type.",
            ["queue", "task_type"],
            registry=self.registry,
        )
        self.failed = Counter(
            "kasynq_tasks_failed",
            "Tasks whose handler failed, by queue and type.",
            ["queue", "task_type"],
            registry=self.registry,
        )
        self.retried = Counter(
            "kasynq_tasks_retried",
            "Failed tasks scheduled for another attempt, by queue and type.",
            ["queue", "task_type"],
            registry=self.registry,
        )
        self.archived = Counter(
            "kasynq_tasks_archived",
            "Tasks archived (retries exhausted, SkipRetry, undecodable), by queue and type.",
            ["queue", "task_type"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "kasynq_tasks_in_flight",
            "Tasks currently held by this server's workers.",
            registry=self.registry,
        )
        self.handler_duration = Histogram(
            "kasynq_handler_duration_seconds",
            "Wall time of handler runs, by task type.",
            ["task_type"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.pickup_delay = Histogram(
            "kasynq_pickup_delay_seconds",
            "Time from a task becoming pending (pending_since) to its handler starting.",
            ["queue"],
            buckets=PICKUP_BUCKETS,
            registry=self.registry,
        )

        self._by_task: dict[tuple[str, str], TaskTypeMetrics] = {}

    def for_task(self, queue: str, task_type: str) -> TaskTypeMetrics:
        """Metrics of one (queue, type); cached because label lookups cost on every task."""
        key = (queue, task_type)
        found = self._by_task.get(key)
        if found is None:
            found = TaskTypeMetrics(
                processed=self.processed.labels(queue, task_type),
                failed=self.failed.labels(queue, task_type),
                retried=self.retried.labels(queue, task_type),
                archived=self.archived.labels(queue, task_type),
                duration=self.handler_duration.labels(task_type),
            )
            self._by_task[key] = found
        return found

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
