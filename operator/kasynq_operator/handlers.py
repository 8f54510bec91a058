"""kopf wiring: events of pools and queues feed one poller, an index of queue specs.

Handlers stay thin; the work is in `autoscaler.PoolController` and `queues.QueueController`,
stepped by `poller.Poller` (one task for every object, not a kopf daemon each).
Importing this module registers the handlers (`kopf run -m kasynq_operator.handlers`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import kopf

from kasynq_operator import metrics as operator_metrics
from kasynq_operator.autoscaler import PoolController, policy_from_spec
from kasynq_operator.events import Events
from kasynq_operator.httpendpoint import start_http
from kasynq_operator.kube import KubeApi, load_api_client
from kasynq_operator.podtemplate import allowed_fields_from_env
from kasynq_operator.poller import Key, Poller, Target, essentials
from kasynq_operator.queues import QUEUE_POLL_SECONDS, QueueController
from kasynq_operator.redis_acl import TenantUsers
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import (
    GROUP,
    MANAGED_BY,
    POOL_LABEL,
    POOL_PLURAL,
    QUEUE_PLURAL,
    VERSION,
)
from kasynq_operator.webhook import start_webhook

logger = logging.getLogger(__name__)

POOL_KIND, QUEUE_KIND = "AsynqWorkerPool", "AsynqQueue"
POOL_STATUS_KEYS = ("desiredReplicas", "startupSeconds")
"""What a pool's step reads of its status: the size and start-up a previous operator saw."""

API_REQUEST_CONNECTIONS = 4
"""kopf's API connections beyond its watch streams. kopf's own session has no limit, so at
startup with hundreds of resources it opened one TLS connection per object (128 KiB of
buffers each: about 100 MiB at 200 pools). kopf only patches the queues' finalizers and
posts its own warnings through them (the operator's own writes and Events use the kubernetes
client), so 4 suffice: 16 cost about 5 MiB more RSS at 200 pools for no change in decision
latency (bench.operator_kube)."""
WATCH_STREAMS_PER_NAMESPACE = 8
"""Watched resources (5) plus kopf's own scans (CRDs, namespaces), with headroom."""


def api_connection_limit(namespaces: tuple[str, ...]) -> int:
    """Connections for kopf: its watch streams (one per resource, per namespace when a list is
    given) plus requests; 0 (no limit) for namespace globs, whose matches are unknown here."""
    if any(char in pattern for pattern in namespaces for char in "*?[!"):
        return 0
    return WATCH_STREAMS_PER_NAMESPACE * max(1, len(namespaces)) + API_REQUEST_CONNECTIONS


@kopf.on.login()
async def login(memo: Any, **kwargs: Any) -> kopf.AiohttpSession | None:
    """Service account in a pod, else $KUBECONFIG read now (not at import time, as the
    client library's default login does); a session with a bounded connection pool."""
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    if info is None:
        return None
    limit = api_connection_limit(tuple(memo.get("namespaces", ())))
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),  # includes basic auth when the kubeconfig has it
    )
    previous = memo.get("api_session")
    if previous is not None:
        await previous.close()
    memo.api_session = session
    return kopf.AiohttpSession(
        server=info.server,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
        aiohttp_session=session,
    )


QUIET_SUCCESSES = frozenset(
    f"Handler '{name}' succeeded."
    for name in ("pool_changed", "queue_changed", "owned_object_changed")
)
"""kopf logs every call of an event handler at INFO: at 1,000 pools, about 8,000 lines in the
first two minutes and one per status refresh after, saying nothing."""


def _not_a_quiet_success(record: logging.LogRecord) -> bool:
    return record.getMessage() not in QUIET_SUCCESSES


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Settings, the shared API and Redis clients, and the /metrics + /healthz endpoint."""
    logging.getLogger("kopf.objects").addFilter(_not_a_quiet_success)
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    settings.watching.client_timeout = 90
    memo.kube = KubeApi(load_api_client())
    memo.redis_clients = RedisClients(memo.kube)
    memo.tenant_users = TenantUsers.from_env(memo.kube, memo.redis_clients, os.environ)
    memo.events = Events(memo.kube)
    memo.pod_template_allowed = allowed_fields_from_env(os.environ)
    port = memo.get("http_port")
    memo.http = await start_http(int(port)) if port else None
    webhook_port = memo.get("webhook_port")
    memo.webhook = (
        await start_webhook(
            int(webhook_port), memo.webhook_cert_dir, allowed_fields=memo.pod_template_allowed
        )
        if webhook_port
        else None
    )
    # last: a startup that failed above and is retried must not leave a poller behind
    memo.poller = Poller()
    memo.polling = asyncio.create_task(memo.poller.run(), name="kasynq poller")
    memo.polling.add_done_callback(_poller_ended)


def _poller_ended(task: asyncio.Task[None]) -> None:
    """The poller stops only through `cleanup`; anything else is a bug worth a loud log."""
    if not task.cancelled() and task.exception() is not None:
        logger.critical("poller stopped", exc_info=task.exception())


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Let running steps finish (then the Events they posted), then close the clients."""
    await memo.poller.stop()
    await asyncio.gather(memo.polling, return_exceptions=True)  # a crash was logged already
    await memo.events.close()
    await memo.redis_clients.close()
    for runner in (memo.http, memo.webhook):
        if runner is not None:
            await runner.cleanup()
    if memo.get("api_session") is not None:
        await memo.api_session.close()


@kopf.index(GROUP, VERSION, QUEUE_PLURAL)
def queue_specs(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> dict[Any, Any]:
    """(namespace, name) -> spec of every AsynqQueue, for pools to resolve their queues."""
    return {(namespace, name): dict(spec)}


def _queues_of(
    namespace: str, spec: Mapping[str, Any], index: kopf.Index[Any, Any]
) -> dict[str, Mapping[str, Any]]:
    wanted = {entry["name"] for entry in spec.get("queues", [])}
    wanted |= {entry["queue"] for entry in spec.get("schedules", [])}
    found: dict[str, Mapping[str, Any]] = {}
    for name in wanted:
        for queue_spec in index.get((namespace, name), []):
            found[name] = queue_spec
    return found


class PoolTarget:
    """One pool for the poller: its controller, its queues resolved from the queue index."""

    def __init__(self, controller: PoolController, queues: kopf.Index[Any, Any]) -> None:
        self.controller = controller
        self._queues = queues

    def interval(self, body: Mapping[str, Any]) -> float:
        return policy_from_spec(body["spec"]).poll_interval_seconds

    async def step(self, body: Mapping[str, Any]) -> None:
        controller = self.controller
        await controller.step(body, _queues_of(controller.namespace, body["spec"], self._queues))

    def forget(self) -> None:
        operator_metrics.POOLS.forget(self.controller.namespace, self.controller.name)


class QueueTarget:
    """One queue for the poller."""

    def __init__(self, controller: QueueController) -> None:
        self.controller = controller

    def interval(self, body: Mapping[str, Any]) -> float:
        return QUEUE_POLL_SECONDS

    async def step(self, body: Mapping[str, Any]) -> None:
        await self.controller.step(body)

    def forget(self) -> None:
        operator_metrics.QUEUES.forget(self.controller.redis_name)


def _follow(
    event: kopf.RawEvent,
    body: kopf.Body,
    poller: Poller,
    key: Key,
    make: Callable[[Mapping[str, Any]], Target],
    status_keys: tuple[str, ...] = (),
) -> None:
    """Hand the object's latest essentials to the poller (`make` builds its target the first
    time), or drop it once it is deleted or being deleted (its owned objects may be going:
    no drift repair then)."""
    if event.get("type") == "DELETED" or body["metadata"].get("deletionTimestamp") is not None:
        poller.drop(key)
        return
    slim = essentials(body, status_keys)
    poller.update(key, slim, lambda: make(slim))


@kopf.on.event(GROUP, VERSION, POOL_PLURAL)
async def pool_changed(
    event: kopf.RawEvent,
    body: kopf.Body,
    namespace: str | None,
    name: str,
    memo: Any,
    **kwargs: Any,
) -> None:
    """The poller steps the pool (`PoolController`) until it is deleted."""
    assert namespace is not None, "AsynqWorkerPool is namespaced"

    def target(slim: Mapping[str, Any]) -> PoolTarget:
        controller = PoolController(
            memo.kube,
            memo.redis_clients,
            namespace,
            name,
            memo.events.poster(slim, "Normal"),
            post_warning=memo.events.poster(slim, "Warning"),
            allowed_fields=memo.pod_template_allowed,
        )
        return PoolTarget(controller, kwargs["queue_specs"])

    _follow(event, body, memo.poller, (POOL_KIND, namespace, name), target, POOL_STATUS_KEYS)


OWNED = {"app.kubernetes.io/managed-by": MANAGED_BY}


@kopf.on.event("apps", "v1", "deployments", labels=OWNED)
@kopf.on.event("v1", "configmaps", labels=OWNED)
@kopf.on.event("v1", "services", labels=OWNED)
async def owned_object_changed(
    event: kopf.RawEvent, body: kopf.Body, namespace: str | None, memo: Any, **_: Any
) -> None:
    """Drift repair: tell the owning pool's controller that one of its objects changed."""
    pool = body.get("metadata", {}).get("labels", {}).get(POOL_LABEL)
    target = memo.poller.target((POOL_KIND, namespace, pool))
    if isinstance(target, PoolTarget):
        deleted = event.get("type") == "DELETED"
        target.controller.notice_owned_change(dict(body), deleted)


@kopf.on.event(GROUP, VERSION, QUEUE_PLURAL)
async def queue_changed(
    event: kopf.RawEvent, body: kopf.Body, namespace: str | None, name: str, memo: Any, **_: Any
) -> None:
    """The poller steps the queue (`QueueController`) until it is deleted."""
    assert namespace is not None, "AsynqQueue is namespaced"

    def target(slim: Mapping[str, Any]) -> QueueTarget:
        controller = QueueController(
            memo.kube,
            memo.redis_clients,
            namespace,
            name,
            post_warning=memo.events.poster(slim, "Warning"),
            tenant_users=memo.tenant_users,
        )
        return QueueTarget(controller)

    _follow(event, body, memo.poller, (QUEUE_KIND, namespace, name), target)


@kopf.on.delete(GROUP, VERSION, QUEUE_PLURAL)
async def queue_deleted(
    namespace: str | None, name: str, spec: kopf.Spec, memo: Any, **kwargs: Any
) -> None:
    """The namespace's last queue with a tenant user is going: remove the user and Secret."""
    tenant_users: TenantUsers = memo.tenant_users
    if namespace is None or not tenant_users.wanted(spec.get("redis", {})):
        return
    index: kopf.Index[Any, Any] = kwargs["queue_specs"]
    others = [
        queue_spec
        for (other_namespace, other_name), specs in index.items()
        if other_namespace == namespace and other_name != name
        for queue_spec in specs
        if tenant_users.wanted(queue_spec.get("redis", {}))
    ]
    if not others:
        await tenant_users.remove(namespace, [spec["redis"]["secretName"]])
