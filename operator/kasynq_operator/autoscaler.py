"""One pool's reconcile and autoscaling step: ensure the owned objects, poll Redis, decide, apply.

The operator's poller (`poller.Poller`) calls `PoolController.step` every poll interval. The
decision itself is `scaling.decide` (pure); this module only gathers its inputs and carries out
its result.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from kasynq import cron
from kasynq.broker.metrics import PoolMetrics, active_tasks_by_host
from kasynq.redaction import describe
from kubernetes.client.exceptions import ApiException
from redis.exceptions import NoPermissionError, RedisError

from kasynq_operator import metrics as operator_metrics
from kasynq_operator.events import EventPoster
from kasynq_operator.kube import KubeApi, PodInfo, api_error_message, version_mark
from kasynq_operator.problems import (
    InvalidRedisURL,
    Problem,
    TenantUserError,
    pool_field_paths,
    redis_problem,
)
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import (
    DELETION_COST_ANNOTATION,
    POOL_PLURAL,
    Resolution,
    configmap_manifest,
    deployment_manifest,
    label_selector,
    names,
    operator_env,
    resolve_pool,
    service_manifest,
)
from kasynq_operator.scaling import Decision, Policy, ScalerState, decide
from kasynq_operator.status import Condition, StatusWriter, set_condition, utc_now

logger = logging.getLogger(__name__)
T = TypeVar("T")

DRIFT_CHECK_SECONDS = 300.0
"""Owned objects are re-applied at least this often; edits and deletions seen by the owned
objects' watches (`notice_owned_change`) trigger a re-apply at the next poll."""
OWN_MARKS_KEPT = 8
"""Version marks of our recent writes per kind: a late watch event of an earlier own write
is still ours, not drift."""
DELETION_COST_SETTLE_SECONDS = 1.0
"""Wait after changing deletion costs so the ReplicaSet controller's cache sees them."""
DECISION_THREADS = 2
"""Threads of the Kubernetes calls that carry out a decision (the scale write, the pod list and
deletion costs of a scale-in). Apart from the default executor's (6 threads on 2 cores):
at 1,000 pools its queue of status patches held the scale write for seconds."""
_DECISIONS = ThreadPoolExecutor(DECISION_THREADS, thread_name_prefix="kasynq-decision")


async def _decision_call(call: Callable[..., T], *args: Any) -> T:
    """`call(*args)` in a decision thread."""
    return await asyncio.get_running_loop().run_in_executor(_DECISIONS, call, *args)


SAMPLE_ERRORS = (
    RedisError,
    OSError,
    asyncio.TimeoutError,
    KeyError,
    ApiException,
    InvalidRedisURL,
    TenantUserError,
)


def policy_from_spec(spec: Mapping[str, Any]) -> Policy:
    """The scaling policy of a pool spec (defaults are filled in by the CRD schema)."""
    replicas = spec.get("replicas", {})
    autoscaling = spec.get("autoscaling", {})
    return Policy(
        min_replicas=int(replicas.get("min", 1)),
        max_replicas=int(replicas.get("max", 10)),
        concurrency=int(spec.get("concurrency", 10)),
        target_backlog_per_replica=float(autoscaling.get("targetBacklogPerReplica", 20)),
        target_latency_seconds=float(autoscaling.get("targetLatencySeconds", 10)),
        poll_interval_seconds=float(autoscaling.get("pollIntervalSeconds", 2)),
        scale_up_stabilization_seconds=float(autoscaling.get("scaleUpStabilizationSeconds", 0)),
        scale_down_stabilization_seconds=float(
            autoscaling.get("scaleDownStabilizationSeconds", 120)
        ),
        max_scale_up_step=int(autoscaling.get("maxScaleUpStep", 100)),
        scale_to_zero_idle_seconds=float(autoscaling.get("scaleToZeroIdleSeconds", 60)),
        due_soon_lookahead_seconds=float(autoscaling.get("dueSoonLookaheadSeconds", 30)),
    )


def fixed_size(spec: Mapping[str, Any], policy: Policy, current: int) -> int:
    """Size of a pool with autoscaling disabled: spec.replicas.desired, else the current size
    (turning autoscaling off under load must not drop the pool to min), within the bounds."""
    desired = spec.get("replicas", {}).get("desired", current)
    return min(max(int(desired), policy.min_replicas), policy.max_replicas)


def next_schedule_in(spec: Mapping[str, Any], now: float) -> float | None:
    """Seconds from `now` (Unix) to the pool's next schedule tick, as the worker's scheduler
    computes it (`kasynq.scheduler` `_tick_after`, UTC); None without schedules. An entry whose
    cron spec does not parse is skipped: the worker's scheduler refuses and reports it."""
    after = datetime.fromtimestamp(math.floor(now), UTC)
    ticks: list[float] = []
    for entry in spec.get("schedules", []):
        try:
            schedule = cron.parse(entry["cron"])
        except cron.CronError:
            continue
        if isinstance(schedule, cron.EverySchedule):
            ticks.append(schedule.tick_after(after).timestamp())
        elif (upcoming := schedule.next(after)) is not None:
            ticks.append(upcoming.timestamp())
    return max(0.0, min(ticks) - now) if ticks else None


def remembered_startup(body: Mapping[str, Any]) -> float | None:
    """The pods' start-up a previous operator observed (`status.startupSeconds`): a restarted
    operator wakes a pool for its schedule ticks just in time from its first poll."""
    value = body.get("status", {}).get("startupSeconds")
    return None if value is None else float(value)


def deployment_essentials(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields of a Deployment the controller keeps (not its managedFields and
    template: 200 pools would otherwise hold 200 full Deployments)."""
    metadata = deployment.get("metadata", {})
    return {
        "kind": "Deployment",
        "metadata": {key: metadata.get(key) for key in ("generation", "resourceVersion")},
        "spec": {"replicas": deployment.get("spec", {}).get("replicas", 1)},
        "status": {"readyReplicas": deployment.get("status", {}).get("readyReplicas")},
    }


def autoscaling_enabled(spec: Mapping[str, Any]) -> bool:
    return bool(spec.get("autoscaling", {}).get("enabled", True))


class PoolController:
    """State and side effects of one AsynqWorkerPool, driven by the poller."""

    def __init__(
        self,
        kube: KubeApi,
        redis_clients: RedisClients,
        namespace: str,
        name: str,
        post_event: EventPoster,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        post_warning: EventPoster = lambda reason, message: None,
        allowed_fields: frozenset[str] = frozenset(),
    ) -> None:
        self.kube = kube
        self.allowed_fields = allowed_fields
        self.redis_clients = redis_clients
        self.namespace = namespace
        self.name = name
        self.post_event = post_event
        self.post_warning = post_warning
        self._problem: Problem | None = None
        self._warned: Problem | None = None
        self.clock = clock
        self.wall_clock = wall_clock
        self.scaler: ScalerState | None = None
        self._ensured: tuple[Any, ...] | None = None
        self._ensured_at = float("-inf")
        self._marks: dict[str, collections.deque[str]] = {}
        self._writes_in_flight = 0
        self._deferred: list[tuple[Mapping[str, Any], bool]] = []
        self._deployment: Mapping[str, Any] | None = None
        self.status = StatusWriter(
            kube,
            POOL_PLURAL,
            namespace,
            name,
            volatile=frozenset({"lastDecision", "lastScaleTime"}),
            detail=lambda status: status.get("lastDecision", {}).get("reason"),
            clock=clock,
        )
        self._decision_started = 0.0
        self._log = f"namespace={namespace} pool={name}"

    async def step(
        self, body: Mapping[str, Any], queue_specs: Mapping[str, Mapping[str, Any]]
    ) -> Decision | None:
        """One poll: returns the autoscaling decision, or None when the pool is refused."""
        spec = body["spec"]
        generation = body["metadata"].get("generation")
        resolution = resolve_pool(self.namespace, spec, queue_specs, self.allowed_fields)
        if not resolution.ok:
            await self._not_ready("Refused", "; ".join(resolution.problems), generation)
            return None
        deployment = self._deployment
        if deployment is None:
            deployment = await asyncio.to_thread(
                self.kube.get_deployment, self.namespace, names(self.name)["deployment"]
            )
            self._deployment = deployment_essentials(deployment) if deployment else None
        policy = policy_from_spec(spec)
        current = int(deployment["spec"]["replicas"] or 0) if deployment else None
        try:
            await self._ensure(body, resolution, policy, current)
        except ApiException as exc:
            operator_metrics.RECONCILE_ERRORS.labels("AsynqWorkerPool", "apply").inc()
            assert resolution.secret is not None
            message = pool_field_paths(
                f"applying the worker objects failed: {api_error_message(exc)}",
                len(operator_env(self.name, self.namespace, resolution.secret)),
            )
            await self._not_ready("ApplyFailed", message, generation)
            return None
        if current is None:
            current = self._initial_size(body, policy)
        ready = int((deployment or {}).get("status", {}).get("readyReplicas") or 0)
        conditions = set_condition(
            self.status.conditions,
            "Ready",
            True,
            "Reconciled",
            "owned objects are up to date",
            generation,
        )
        if autoscaling_enabled(spec):
            ticks_in = next_schedule_in(spec, self.wall_clock())
            decision = await self._autoscale(
                policy, resolution, current, ready, ticks_in, remembered_startup(body)
            )
        else:
            size = fixed_size(spec, policy, current)
            why = "spec.replicas.desired" if "desired" in spec.get("replicas", {}) else "held"
            decision = Decision(current, size, size, f"autoscaling disabled: {why}", True)
        if decision.changed:
            await self._resize(decision)
        available = decision.metrics_available
        conditions = set_condition(
            conditions,
            "MetricsAvailable",
            available,
            "Sampled" if available else "RedisUnavailable",
            "queue metrics sampled from Redis" if available else decision.reason,
            generation,
        )
        conditions = self._redis_problem_condition(conditions, generation)
        operator_metrics.POOLS.record(
            self.namespace,
            self.name,
            (queue.redis_name for queue in resolution.queues),
            policy.target_latency_seconds,
            ready,
        )
        await self._report(decision, conditions, generation)
        return decision

    def _redis_problem_condition(
        self, conditions: list[Condition], generation: int | None
    ) -> list[Condition]:
        """Ready=False naming the Secret or Redis problem of the last poll, and a Warning
        Event once per distinct problem (not every poll)."""
        problem = self._problem
        if problem is not None and problem != self._warned:
            self.post_warning(problem.reason, problem.message)
        self._warned = problem
        if problem is None:
            return conditions
        reason, message = problem.reason, problem.message
        return set_condition(conditions, "Ready", False, reason, message, generation)

    async def _not_ready(self, reason: str, message: str, generation: int | None) -> None:
        """Ready=False with the reason in status and the log; the pool's size is left alone."""
        logger.warning("pool not ready %s reason=%s message=%r", self._log, reason, message)
        conditions = set_condition(
            self.status.conditions, "Ready", False, reason, message, generation
        )
        await self.status.write({"conditions": conditions, "observedGeneration": generation})

    def _initial_size(self, body: Mapping[str, Any], policy: Policy) -> int:
        remembered = body.get("status", {}).get("desiredReplicas")
        size = policy.min_replicas if remembered is None else int(remembered)
        if not autoscaling_enabled(body["spec"]):
            return fixed_size(body["spec"], policy, size)
        return min(max(size, policy.min_replicas), policy.max_replicas)

    async def _ensure(
        self,
        body: Mapping[str, Any],
        resolution: Resolution,
        policy: Policy,
        live_replicas: int | None,
    ) -> None:
        """Apply ConfigMap, Service and Deployment when the spec changed or for drift repair."""
        key = (body["metadata"].get("generation"), resolution, live_replicas is None)
        now = self.clock()
        if key == self._ensured and now - self._ensured_at < DRIFT_CHECK_SECONDS:
            return
        spec = body["spec"]
        replicas = self._initial_size(body, policy) if live_replicas is None else live_replicas
        configmap = configmap_manifest(self.name, self.namespace, spec, resolution)
        deployment = deployment_manifest(
            self.name, self.namespace, spec, resolution, configmap, replicas
        )
        for manifest in (configmap, service_manifest(self.name, self.namespace), deployment):
            await self._write(self.kube.apply, manifest, body)
        if live_replicas is None:
            logger.info("created workers %s replicas=%d", self._log, replicas)
        # The Deployment exists now: the next poll, which sees it, applies nothing again (at
        # 1,000 pools that second wave of 3,000 applies held decisions for seconds).
        self._ensured, self._ensured_at = (*key[:2], False), now

    async def _write(
        self, call: Callable[..., Mapping[str, Any]], *args: Any, decision: bool = False
    ) -> None:
        """One write of an owned object, remembered as ours. Watch events that arrive while it
        is in flight wait for its answer: the event of our own write often comes first (6 in
        10 scale writes were taken for drift and re-applied the three objects)."""
        self._writes_in_flight += 1
        try:
            self._remember(
                await (_decision_call(call, *args) if decision else asyncio.to_thread(call, *args))
            )
        finally:
            self._writes_in_flight -= 1
            if not self._writes_in_flight:
                deferred, self._deferred = self._deferred, []
                for obj, deleted in deferred:
                    self.notice_owned_change(obj, deleted)

    def _remember(self, written: Mapping[str, Any]) -> None:
        """Our own write: its version mark, and for the Deployment its replicas and readiness."""
        marks = self._marks.setdefault(written["kind"], collections.deque(maxlen=OWN_MARKS_KEPT))
        marks.append(version_mark(written))
        if written["kind"] == "Deployment":
            self._deployment = deployment_essentials(written)

    def notice_owned_change(self, obj: Mapping[str, Any], deleted: bool) -> None:
        """An owned object changed (from its watch): unless it is one of our own recent writes
        (a late event of an earlier one included), re-apply at the next poll. A Deployment's
        replicas and readiness are taken from the watch, so polls need no GET; an event older
        (lower generation) than what we know is ignored."""
        if self._writes_in_flight:
            self._deferred.append((obj, deleted))
            return
        kind = obj["kind"]
        if deleted or version_mark(obj) not in self._marks.get(kind, ()):
            logger.info("owned %s changed %s deleted=%s: repairing", kind, self._log, deleted)
            self._ensured = None
        if kind != "Deployment":
            return
        if deleted:
            self._deployment = None
            return

        def generation(deployment: Mapping[str, Any] | None) -> int:
            return int((deployment or {}).get("metadata", {}).get("generation") or 0)

        if generation(obj) >= generation(self._deployment):
            self._deployment = deployment_essentials(obj)

    async def _autoscale(
        self,
        policy: Policy,
        resolution: Resolution,
        current: int,
        ready: int,
        ticks_in: float | None,
        startup: float | None,
    ) -> Decision:
        """Sample, decide (again with the busy pods before a scale-in) and keep the state; a
        fresh state starts from the start-up a previous operator observed (`startup`)."""
        assert resolution.secret is not None
        started = self.clock()
        state = self.scaler or ScalerState(started_at=started, startup_seconds=startup)
        metrics: PoolMetrics | None = None
        error = ""
        try:
            metrics = await asyncio.wait_for(
                self.redis_clients.sample(
                    self.namespace,
                    resolution.secret,
                    [queue.redis_name for queue in resolution.queues],
                    policy.due_soon_lookahead_seconds,
                ),
                timeout=max(1.0, policy.poll_interval_seconds),
            )
            operator_metrics.REDIS_POLL_SECONDS.observe(self.clock() - started)
        except SAMPLE_ERRORS as exc:
            timeout = max(1.0, policy.poll_interval_seconds)
            self._problem = redis_problem(exc, self.namespace, resolution.secret, timeout)
            error = self._problem.message
            logger.warning(
                "metrics unavailable %s reason=%s error=%s", self._log, self._problem.reason, error
            )
            operator_metrics.RECONCILE_ERRORS.labels("AsynqWorkerPool", "redis-poll").inc()
        if metrics is not None:
            self._problem = None
        redecide = functools.partial(
            decide, policy, current, metrics, self.clock(), state, ready, next_schedule_in=ticks_in
        )
        decision = redecide()
        if decision.metrics_available and decision.desired_replicas < current:
            decision = await self._scale_in(resolution, decision, redecide)
        if decision.metrics_available:
            self.scaler = decision.state
        elif error:
            decision = Decision(
                current,
                decision.desired_replicas,
                decision.recommended_replicas,
                f"{decision.reason} ({error})",
                False,
            )
        outcome = (
            "unavailable"
            if not decision.metrics_available
            else "up"
            if decision.desired_replicas > current
            else "down"
            if decision.desired_replicas < current
            else "hold"
        )
        operator_metrics.DECISIONS.labels(self.namespace, self.name, outcome).inc()
        self._decision_started = started
        return decision

    async def _scale_in(
        self, resolution: Resolution, decision: Decision, redecide: Callable[..., Decision]
    ) -> Decision:
        """Decide again knowing how many pods run a task (the floor of a scale-in), then set
        deletion costs so the ReplicaSet removes idle pods first. Without the worker records
        the pool keeps its size: scaling in blind could interrupt running tasks."""
        assert resolution.secret is not None
        current = decision.current_replicas
        try:
            client = await self.redis_clients.get(self.namespace, resolution.secret)
            busy = await active_tasks_by_host(client)
        except NoPermissionError:
            # A tenant user may not read heartbeats (docs/operations.md): scale in on the
            # in-flight floor and let the ReplicaSet pick the pods.
            logger.warning("worker records not readable with tenant credentials %s", self._log)
            return decision
        except SAMPLE_ERRORS as exc:
            logger.warning("worker records unavailable %s error=%s", self._log, describe(exc))
            held = redecide(busy_pods=current)  # unknown: as if every pod were busy
            return replace(held, reason=f"{held.reason}; worker records unavailable")
        pods = await _decision_call(self.kube.list_pods, self.namespace, label_selector(self.name))
        live = [pod for pod in pods if not pod.terminating]
        busy_pods = sum(1 for pod in live if busy.get(pod.name, 0))
        decision = redecide(busy_pods=busy_pods)
        if decision.desired_replicas < current:
            await self._prefer_idle_victims(live, busy)
        return decision

    async def _prefer_idle_victims(self, pods: list[PodInfo], busy: Mapping[str, int]) -> None:
        """Deletion cost = in-flight tasks per pod, so the ReplicaSet removes idle pods first."""
        changed = 0
        for pod in pods:
            cost = busy.get(pod.name, 0)
            if pod.deletion_cost == cost:
                continue
            await _decision_call(
                self.kube.annotate_pod,
                self.namespace,
                pod.name,
                DELETION_COST_ANNOTATION,
                str(cost),
            )
            changed += 1
        if changed:
            logger.info("deletion costs set %s pods=%d busy=%s", self._log, changed, busy)
            await asyncio.sleep(DELETION_COST_SETTLE_SECONDS)

    async def _resize(self, decision: Decision) -> None:
        deployment = names(self.name)["deployment"]
        await self._write(
            self.kube.scale_deployment,
            self.namespace,
            deployment,
            decision.desired_replicas,
            decision=True,
        )
        operator_metrics.DECISION_SECONDS.observe(self.clock() - self._decision_started)
        direction = (
            "ScaledUp" if decision.desired_replicas > decision.current_replicas else "ScaledDown"
        )
        size = f"{decision.current_replicas} -> {decision.desired_replicas} replicas"
        message = f"{size}: {decision.reason}"
        logger.info("scaled %s %s", self._log, message)
        self.post_event(direction, message)

    async def _report(
        self, decision: Decision, conditions: list[Condition], generation: int | None
    ) -> None:
        status: dict[str, Any] = {
            "replicas": decision.desired_replicas,
            "desiredReplicas": decision.desired_replicas,
            "selector": label_selector(self.name),
            "observedGeneration": generation,
            "conditions": conditions,
            "lastDecision": {
                "time": utc_now(),
                "currentReplicas": decision.current_replicas,
                "desiredReplicas": decision.desired_replicas,
                "recommendedReplicas": decision.recommended_replicas,
                "reason": decision.reason,
                "inputs": decision.inputs,
            },
        }
        if decision.changed:
            status["lastScaleTime"] = utc_now()
        if self.scaler is not None and self.scaler.startup_seconds is not None:
            status["startupSeconds"] = round(self.scaler.startup_seconds, 1)
        await self.status.write(status, force=decision.changed)
