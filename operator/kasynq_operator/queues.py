"""One AsynqQueue's step: pause or unpause it in Redis and report its counts in status."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kasynq.broker.inspect import InspectBroker
from kasynq.broker.metrics import QueueMetrics
from kasynq.errors import FailedPreconditionError

from kasynq_operator import metrics as operator_metrics
from kasynq_operator.autoscaler import SAMPLE_ERRORS
from kasynq_operator.kube import KubeApi
from kasynq_operator.problems import Problem, redis_problem
from kasynq_operator.redis_acl import TenantUsers
from kasynq_operator.redis_clients import REDIS_TIMEOUT_SECONDS, RedisClients
from kasynq_operator.resources import QUEUE_PLURAL, SecretRef, redis_queue_name, secret_problem
from kasynq_operator.status import StatusWriter, set_condition, utc_now

logger = logging.getLogger(__name__)

QUEUE_POLL_SECONDS = 3.0


def queue_status(sample: QueueMetrics, rates: tuple[float, float] | None) -> dict[str, Any]:
    """The counts part of an AsynqQueue status from one sample."""
    status: dict[str, Any] = {
        "pending": sample.pending,
        "active": sample.active,
        "scheduled": sample.scheduled,
        "retry": sample.retry,
        "archived": sample.archived,
        "completed": sample.completed,
        "aggregating": sample.aggregating,
        "latencySeconds": round(sample.latency_seconds, 3),
        "paused": sample.paused,
    }
    if rates is not None:
        status["processedPerSecond"], status["failedPerSecond"] = (round(r, 3) for r in rates)
    return status


class QueueController:
    """State and side effects of one AsynqQueue, driven by the poller."""

    def __init__(
        self,
        kube: KubeApi,
        redis_clients: RedisClients,
        namespace: str,
        name: str,
        clock: Callable[[], float] = time.monotonic,
        post_warning: Callable[[str, str], None] = lambda reason, message: None,
        tenant_users: TenantUsers | None = None,
    ) -> None:
        self.kube = kube
        self.redis_clients = redis_clients
        self.namespace = namespace
        self.name = name
        self.redis_name = redis_queue_name(namespace, name)
        self.clock = clock
        self.post_warning = post_warning
        self.tenant_users = tenant_users
        self._warned: Problem | None = None
        self._previous: tuple[float, QueueMetrics] | None = None
        self.status = StatusWriter(
            kube,
            QUEUE_PLURAL,
            namespace,
            name,
            volatile=frozenset({"lastSampleTime", "processedPerSecond", "failedPerSecond"}),
            clock=clock,
        )

    async def step(self, body: Mapping[str, Any]) -> None:
        spec = body["spec"]
        generation = body["metadata"].get("generation")
        conditions = self.status.conditions
        status: dict[str, Any] = {"redisName": self.redis_name, "observedGeneration": generation}
        problem = secret_problem(self.namespace, spec.get("redis", {}))
        if problem:
            operator_metrics.QUEUES.forget(self.redis_name)
            conditions = set_condition(conditions, "Ready", False, "Refused", problem, generation)
            await self.status.write({**status, "conditions": conditions})
            return
        secret = SecretRef.from_spec(spec["redis"])
        try:
            if self.tenant_users is not None and self.tenant_users.wanted(spec["redis"]):
                await self.tenant_users.ensure(self.namespace, secret)
            sample = await self._sync(secret, bool(spec.get("paused", False)))
        except SAMPLE_ERRORS as exc:
            trouble = redis_problem(exc, self.namespace, secret, REDIS_TIMEOUT_SECONDS)
            logger.warning(
                "queue metrics unavailable queue=%s reason=%s error=%s",
                self.redis_name,
                trouble.reason,
                trouble.message,
            )
            operator_metrics.RECONCILE_ERRORS.labels("AsynqQueue", "redis-poll").inc()
            operator_metrics.QUEUES.forget(self.redis_name)
            if trouble != self._warned:  # one Warning Event per distinct problem
                self.post_warning(trouble.reason, trouble.message)
                self._warned = trouble
            for type_ in ("Ready", "MetricsAvailable"):
                conditions = set_condition(
                    conditions, type_, False, trouble.reason, trouble.message, generation
                )
            await self.status.write({**status, "conditions": conditions})
            return
        self._warned = None
        now = self.clock()
        rates = None
        if self._previous is not None and now > self._previous[0]:
            seconds, before = now - self._previous[0], self._previous[1]
            rates = (
                max(0, sample.processed_total - before.processed_total) / seconds,
                max(0, sample.failed_total - before.failed_total) / seconds,
            )
        self._previous = (now, sample)
        operator_metrics.QUEUES.record(sample)
        for type_, reason, message in (
            ("Ready", "Reconciled", "queue is configured in Redis"),
            ("MetricsAvailable", "Sampled", "queue metrics sampled from Redis"),
        ):
            conditions = set_condition(conditions, type_, True, reason, message, generation)
        await self.status.write(
            {
                **status,
                **queue_status(sample, rates),
                "conditions": conditions,
                "lastSampleTime": utc_now(),
            }
        )

    async def _sync(self, secret: SecretRef, paused: bool) -> QueueMetrics:
        """Sample the queue and make its paused flag in Redis match the spec."""
        (sample,) = (
            await self.redis_clients.sample(self.namespace, secret, [self.redis_name], 0)
        ).queues
        if sample.paused == paused:
            return sample
        client = await self.redis_clients.get(self.namespace, secret)
        inspect = InspectBroker(client)
        # FailedPrecondition: someone else got there first, the flag already is what we want.
        with contextlib.suppress(FailedPreconditionError):
            await (inspect.pause if paused else inspect.unpause)(self.redis_name)
        logger.info("queue %s queue=%s", "paused" if paused else "unpaused", self.redis_name)
        return dataclasses.replace(sample, paused=paused)
