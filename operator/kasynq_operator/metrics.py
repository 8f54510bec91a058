"""Prometheus metrics of the operator process, served on `/metrics`."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
