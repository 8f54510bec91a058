"""Prometheus metrics of one worker server (served on `/metrics` by `httpserver`).

Each Server owns its own registry so that several servers in one process (tests, embedding)
do not collide on metric names. The `task_type` label is capped: task types are data (a
client may put ids in them), and every label value costs memory and scrape time for good.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)
PICKUP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300)
DEFAULT_MAX_TASK_TYPES = 1000
OTHER_TASK_TYPE = "other"
"""The `task_type` label of every type seen after the first `max_task_types`."""


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

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        max_task_types: int = DEFAULT_MAX_TASK_TYPES,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._max_task_types = max_task_types
        self._task_types: set[str] = set()
        self._overflow_logged = False
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
        """Metrics of one (queue, type); cached because label lookups cost on every task.

        Types beyond the first `max_task_types` share the label value `other`.
        """
        if task_type not in self._task_types:
            if len(self._task_types) < self._max_task_types:
                self._task_types.add(task_type)
            else:
                task_type = self._overflow(task_type)
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

    def _overflow(self, task_type: str) -> str:
        if not self._overflow_logged:
            self._overflow_logged = True
            log.warning(
                "metrics task_type label cap reached, counting further types as %r "
                "max_task_types=%d first_type=%s",
                OTHER_TASK_TYPE,
                self._max_task_types,
                task_type,
            )
        return OTHER_TASK_TYPE

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
