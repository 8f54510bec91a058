"""Prometheus metrics of the operator process, served on `/metrics`.

Besides the operator's own metrics, `QUEUES` exports asynq's queue families (as asynq's
x/metrics exporter names them) for every AsynqQueue the operator manages, from the samples
the queues' polls already take: a scrape costs no Redis round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from kasynq.broker.inspect import QueueInfo
from kasynq.broker.metrics import QueueMetrics
from kasynq.exporter import queue_metric_families
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

DECISIONS = Counter(
    "kasynq_operator_scaling_decisions_total",
    "Autoscaling decisions by outcome (up, down, hold, unavailable).",
    ["namespace", "pool", "outcome"],
)
DECISION_SECONDS = Histogram(
    "kasynq_operator_decision_seconds",
    "From the start of a Redis poll to the Deployment patch (or the decision to hold).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REDIS_POLL_SECONDS = Histogram(
    "kasynq_operator_redis_poll_seconds",
    "Duration of one pipelined metrics poll of a pool's queues.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
RECONCILE_ERRORS = Counter(
    "kasynq_operator_reconcile_errors_total",
    "Failed reconcile or poll steps by resource kind and step.",
    ["kind", "step"],
)

QUEUE_TARGET_LATENCY = Gauge(
    "kasynq_operator_queue_target_latency_seconds",
    "spec.autoscaling.targetLatencySeconds of the pool serving a queue (for alerts).",
    ["namespace", "pool", "queue"],
)
QUEUE_READY_REPLICAS = Gauge(
    "kasynq_operator_queue_ready_replicas",
    "Ready worker pods of the pool serving a queue (for alerts).",
    ["namespace", "pool", "queue"],
)


class PoolGauges:
    """The per-queue gauges of each pool; a pool's series go when it goes or drops a queue."""

    def __init__(self) -> None:
        self._queues: dict[tuple[str, str], frozenset[str]] = {}

    def record(
        self, namespace: str, pool: str, queues: Iterable[str], target: float, ready: int
    ) -> None:
        current = frozenset(queues)
        self._drop(namespace, pool, self._queues.get((namespace, pool), frozenset()) - current)
        for queue in current:
            QUEUE_TARGET_LATENCY.labels(namespace, pool, queue).set(target)
            QUEUE_READY_REPLICAS.labels(namespace, pool, queue).set(ready)
        self._queues[(namespace, pool)] = current

    def forget(self, namespace: str, pool: str) -> None:
        self._drop(namespace, pool, self._queues.pop((namespace, pool), frozenset()))

    @staticmethod
    def _drop(namespace: str, pool: str, queues: Iterable[str]) -> None:
        for queue in queues:
            for gauge in (QUEUE_TARGET_LATENCY, QUEUE_READY_REPLICAS):
                gauge.remove(namespace, pool, queue)


POOLS = PoolGauges()

NOT_SAMPLED_FAMILIES = frozenset({"asynq_queue_memory_usage_approx_bytes"})
"""Families the queues' polls cannot fill: memory usage would take MEMORY USAGE
calls on sampled tasks, extra round trips per queue, so it is left out rather than faked."""


def queue_info(sample: QueueMetrics, taken_at: datetime) -> QueueInfo:
    """A QueueInfo from one queue sample, for asynq's families. Fields no family reads and the
    sample lacks (memory usage, groups, today's counters) are zero."""
    return QueueInfo(
        queue=sample.name,
        memory_usage=0,
        latency=timedelta(seconds=sample.latency_seconds),
        size=sample.pending
        + sample.active
        + sample.scheduled
        + sample.retry
        + sample.archived
        + sample.completed
        + sample.aggregating,
        groups=0,
        pending=sample.pending,
        active=sample.active,
        scheduled=sample.scheduled,
        retry=sample.retry,
        archived=sample.archived,
        completed=sample.completed,
        aggregating=sample.aggregating,
        processed=0,
        failed=0,
        processed_total=sample.processed_total,
        failed_total=sample.failed_total,
        paused=sample.paused,
        timestamp=taken_at,
    )


class QueueSamples(Collector):
    """The latest sample of each managed queue, collected as asynq's metric families.

    A queue whose sampling fails, or whose AsynqQueue goes away, is forgotten: its series
    vanish instead of repeating old numbers (asynq's exporter reports nothing when Redis fails).
    """

    def __init__(self) -> None:
        self._latest: dict[str, QueueInfo] = {}

    def record(self, sample: QueueMetrics) -> None:
        self._latest[sample.name] = queue_info(sample, datetime.now(UTC))

    def forget(self, redis_name: str) -> None:
        self._latest.pop(redis_name, None)

    def collect(self) -> Iterator[Metric]:
        infos = [self._latest[name] for name in sorted(self._latest)]
        for family in queue_metric_families(infos):
            if family.name not in NOT_SAMPLED_FAMILIES:
                yield family


QUEUES = QueueSamples()
REGISTRY.register(QUEUES)
