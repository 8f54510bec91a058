"""`kasynq web --kube`: AsynqWorkerPools with their replicas over time, decisions and Events.

Reads only (get/list): AsynqWorkerPools and AsynqQueues (group kasynq.io), the pools' worker
Deployments and the Events about the pools, through the in-cluster config or $KUBECONFIG
(the `kubernetes` package of the operator extra). A sampler lists them every refresh and
keeps each pool's replicas over time in memory, so the chart starts when the console does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kasynq.redaction import describe

log = logging.getLogger(__name__)

GROUP, VERSION = "kasynq.io", "v1alpha1"
POOLS, QUEUES = "asynqworkerpools", "asynqqueues"
POOL_LABEL = "kasynq.io/pool"
"""The label the operator puts on a pool's Deployment (kasynq_operator.resources.POOL_LABEL)."""
HISTORY_POINTS = 360
EVENTS_SHOWN = 10


@dataclass(frozen=True)
class PoolEvent:
    time: str
    type: str
    reason: str
    message: str
    count: int


@dataclass(frozen=True)
class QueueRef:
    """A queue a pool serves: its weight (the pool's, else the queue's) and the AsynqQueue's
    status as the operator last sampled it."""

    name: str
    weight: int | None
    redis_name: str
    status: dict[str, Any]


@dataclass
class Pool:
    """One AsynqWorkerPool as the pools page shows it."""

    namespace: str
    name: str
    min_replicas: int | None
    max_replicas: int | None
    replicas: int | None
    desired: int | None
    ready: int | None
    last_decision: dict[str, Any]
    conditions: list[dict[str, Any]]
    queues: list[QueueRef]
    events: list[PoolEvent]
    history: list[tuple[datetime, int, int]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name


def _time_of(event: Any) -> str:
    moment = event.last_timestamp or event.event_time or event.metadata.creation_timestamp
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


class PoolReader:
    """Lists the pools and what belongs to them; keeps replicas over time per pool."""

    def __init__(self, api_client: Any, namespaces: Sequence[str], refresh_seconds: float) -> None:
        from kubernetes import client

        # Any: the client's generated models are loosely typed (dict-like replies, kwargs).
        self._custom: Any = client.CustomObjectsApi(api_client)
        self._apps: Any = client.AppsV1Api(api_client)
        self._core: Any = client.CoreV1Api(api_client)
        self.namespaces = tuple(namespaces)
        self._refresh = refresh_seconds
        self._history: dict[tuple[str, str], deque[tuple[datetime, int, int]]] = {}
        self._latest: list[Pool] | None = None
        self.error = ""

    @classmethod
    def from_environment(cls, namespaces: Sequence[str], refresh_seconds: float) -> PoolReader:
        """With the in-cluster service account, else $KUBECONFIG (or ~/.kube/config)."""
        from kubernetes import config

        loader: Any = config
        try:
            loader.load_incluster_config()
            api_client = None
        except loader.ConfigException:
            api_client = loader.new_client_from_config()
        return cls(api_client, namespaces, refresh_seconds)

    def _list(self, kind: str, **selectors: str) -> list[Any]:
        """Objects of `kind` in the chosen namespaces (all namespaces when none were chosen)."""
        if kind in (POOLS, QUEUES):
            if not self.namespaces:
                reply = self._custom.list_cluster_custom_object(GROUP, VERSION, kind)
                return list(reply["items"])
            return [
                item
                for ns in self.namespaces
                for item in self._custom.list_namespaced_custom_object(GROUP, VERSION, ns, kind)[
                    "items"
                ]
            ]
        every, per_namespace = {
            "deployments": (
                self._apps.list_deployment_for_all_namespaces,
                self._apps.list_namespaced_deployment,
            ),
            "events": (self._core.list_event_for_all_namespaces, self._core.list_namespaced_event),
        }[kind]
        if not self.namespaces:
            return list(every(**selectors).items)
        return [item for ns in self.namespaces for item in per_namespace(ns, **selectors).items]

    def read(self) -> list[Pool]:
        """One listing of pools, queues, Deployments and Events (blocking: run in a thread)."""
        queues = {
            (q["metadata"]["namespace"], q["metadata"]["name"]): q for q in self._list(QUEUES)
        }
        deployments = {
            (d.metadata.namespace, d.metadata.labels.get(POOL_LABEL)): d
            for d in self._list("deployments", label_selector=POOL_LABEL)
        }
        events: dict[tuple[str, str], list[Any]] = {}
        for event in self._list("events", field_selector="involvedObject.kind=AsynqWorkerPool"):
            key = (event.involved_object.namespace, event.involved_object.name)
            events.setdefault(key, []).append(event)
        pools = []
        for item in self._list(POOLS):
            meta, spec, status = item["metadata"], item.get("spec", {}), item.get("status", {})
            key = (meta["namespace"], meta["name"])
            deployment = deployments.get(key)
            refs = []
            for entry in spec.get("queues", []):
                queue = queues.get((key[0], entry["name"]), {})
                queue_status = queue.get("status", {})
                refs.append(
                    QueueRef(
                        entry["name"],
                        entry.get("weight") or queue.get("spec", {}).get("weight"),
                        queue_status.get("redisName", f"{key[0]}:{entry['name']}"),
                        queue_status,
                    )
                )
            newest = sorted(events.get(key, []), key=_time_of, reverse=True)[:EVENTS_SHOWN]
            pools.append(
                Pool(
                    namespace=key[0],
                    name=key[1],
                    min_replicas=spec.get("replicas", {}).get("min"),
                    max_replicas=spec.get("replicas", {}).get("max"),
                    replicas=deployment.spec.replicas if deployment else status.get("replicas"),
                    desired=status.get("desiredReplicas"),
                    ready=(deployment.status.ready_replicas or 0) if deployment else None,
                    last_decision=status.get("lastDecision") or {},
                    conditions=status.get("conditions") or [],
                    queues=refs,
                    events=[
                        PoolEvent(
                            _time_of(e), e.type or "", e.reason or "", e.message or "", e.count or 1
                        )
                        for e in newest
                    ],
                )
            )
        pools.sort(key=lambda pool: pool.key)
        return pools

    def _record(self, pools: list[Pool], now: datetime) -> None:
        """Add this listing to each pool's replicas over time, and attach the history."""
        for pool in pools:
            history = self._history.setdefault(pool.key, deque(maxlen=HISTORY_POINTS))
            history.append((now, pool.replicas or 0, pool.desired or 0))
            pool.history = list(history)
        self._latest = pools

    async def refresh(self) -> list[Pool]:
        pools = await asyncio.to_thread(self.read)
        self._record(pools, datetime.now(UTC))
        self.error = ""
        return pools

    async def sample_forever(self) -> None:
        """List every refresh for the replicas history; an API failure is shown, then retried."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the API server may be briefly away; keep sampling
                self.error = describe(exc)
                log.warning("web kube listing failed error=%s", self.error)
            await asyncio.sleep(self._refresh)

    async def pools(self, namespace: str | None) -> list[Pool]:
        """The latest listing (one is made now if the sampler has none yet), of `namespace`."""
        pools = self._latest if self._latest is not None else await self.refresh()
        return [pool for pool in pools if namespace is None or pool.namespace == namespace]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._custom.api_client.close()
