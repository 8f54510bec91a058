"""Prometheus metrics of every queue, named, typed and labelled as asynq's own exporter.

Mirrors hibiken/asynq x/metrics `QueueMetricsCollector`, so dashboards and alerts written for
Go asynq work unchanged. `queue_metric_families` builds the same families from QueueInfo
read elsewhere (e.g. by a process that already polls the queues).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kasynq.broker.inspect import QueueInfo
from kasynq.inspector import Inspector
from kasynq.redaction import describe

log = logging.getLogger(__name__)

STATE_COUNTS = ("active", "pending", "scheduled", "retry", "archived", "completed")


class QueueMetricsCollector(Collector):
    """Collects QueueInfo of all queues at each scrape: the queue names, then one pipeline."""

    def __init__(self, inspector: Inspector) -> None:
        self._inspector = inspector

    def _queue_infos(self) -> list[QueueInfo]:
        try:
            return self._inspector.get_queue_infos()
        except Exception as exc:  # a scrape must answer even when Redis does not
            log.warning("queue metrics collection failed error=%s", describe(exc))
            return []

    def collect(self) -> Iterator[Metric]:
        yield from queue_metric_families(self._queue_infos())


def queue_metric_families(infos: Iterable[QueueInfo]) -> list[Metric]:
    """asynq's metric families of these queues (for collectors with their own QueueInfo source)."""
    enqueued = GaugeMetricFamily(
        "asynq_tasks_enqueued_total",
        "Number of tasks enqueued; broken down by queue and state.",
        labels=["queue", "state"],
    )
    size = GaugeMetricFamily("asynq_queue_size", "Number of tasks in a queue", labels=["queue"])
    latency = GaugeMetricFamily(
        "asynq_queue_latency_seconds",
        "Number of seconds the oldest pending task is waiting in pending state to be processed.",
        labels=["queue"],
    )
    memory = GaugeMetricFamily(
        "asynq_queue_memory_usage_approx_bytes",
        "Number of memory used by a given queue (approximated number by sampling).",
        labels=["queue"],
    )
    processed = CounterMetricFamily(
        "asynq_tasks_processed",
        "Number of tasks processed (both succeeded and failed); broken down by queue",
        labels=["queue"],
    )
    failed = CounterMetricFamily(
        "asynq_tasks_failed", "Number of tasks failed; broken down by queue", labels=["queue"]
    )
    paused = GaugeMetricFamily(
        "asynq_queue_paused_total", "Number of queues paused", labels=["queue"]
    )
    for info in infos:
        for state in STATE_COUNTS:
            enqueued.add_metric([info.queue, state], getattr(info, state))
        size.add_metric([info.queue], info.size)
        latency.add_metric([info.queue], info.latency.total_seconds())
        memory.add_metric([info.queue], info.memory_usage)
        processed.add_metric([info.queue], info.processed_total)
        failed.add_metric([info.queue], info.failed_total)
        paused.add_metric([info.queue], 1 if info.paused else 0)
    return [enqueued, size, latency, memory, processed, failed, paused]
