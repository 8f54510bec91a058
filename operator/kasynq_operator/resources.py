"""What a pool should look like in Kubernetes: pure functions from custom resources to manifests.

`resolve_pool` checks a pool's references (same-namespace AsynqQueues sharing one Redis
Secret) and computes tenant-prefixed queue names; the `*_manifest` functions build the
worker ConfigMap, Deployment and metrics Service. No I/O happens here.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from kasynq.config import REDIS_CA_FILE_ENV, REDIS_PASSWORD_ENV, REDIS_URL_ENV

from kasynq_operator.podtemplate import template_problems
from kasynq_operator.webhook import schedule_problems

GROUP = "kasynq.io"
VERSION = "v1alpha1"
QUEUE_PLURAL = "asynqqueues"
POOL_PLURAL = "asynqworkerpools"
MANAGED_BY = "kasynq-operator"
POOL_LABEL = "kasynq.io/pool"
CONFIG_HASH_ANNOTATION = "kasynq.io/config-hash"
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
CONFIG_FILE = "worker.yaml"
CONFIG_DIR = "/etc/kasynq"
REDIS_CA_DIR = "/etc/kasynq/redis"
REDIS_CA_FILE = "ca.crt"
HTTP_PORT = 8080
GRACE_MARGIN_SECONDS = 15
WORKER_UID = 10001

Manifest = dict[str, Any]


def redis_queue_name(namespace: str, queue: str) -> str:
    """The tenant-prefixed asynq queue name of AsynqQueue `queue` in `namespace`."""
    return f"{namespace}:{queue}"


@dataclass(frozen=True)
class SecretRef:
    """Where a queue's Redis connection lives (a Secret in the queue's namespace)."""

    name: str
    url_key: str = "url"
    password_key: str | None = None
    ca_key: str | None = None

    @classmethod
    def from_spec(cls, redis_spec: Mapping[str, Any]) -> SecretRef:
        return cls(
            name=str(redis_spec["secretName"]),
            url_key=str(redis_spec.get("urlKey") or "url"),
            password_key=redis_spec.get("passwordKey") or None,
            ca_key=redis_spec.get("caKey") or None,
        )


def secret_problem(namespace: str, redis_spec: Mapping[str, Any]) -> str | None:
    """A refusal message when a queue's Secret reference leaves its namespace."""
    other = redis_spec.get("namespace")
    if other and other != namespace:
        return f"Secret {other}/{redis_spec.get('secretName')} is outside namespace {namespace}"
    return None


@dataclass(frozen=True)
class ResolvedQueue:
    """One queue of a pool: its CR name, Redis name, weight and paused flag."""

    name: str
    redis_name: str
    weight: int
    paused: bool


@dataclass(frozen=True)
class Resolution:
    """A pool's references checked: its queues and Secret, or the problems refusing it."""

    queues: tuple[ResolvedQueue, ...]
    secret: SecretRef | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and self.secret is not None


def resolve_pool(
    namespace: str,
    spec: Mapping[str, Any],
    queues: Mapping[str, Mapping[str, Any]],
    allowed_fields: frozenset[str] = frozenset(),
) -> Resolution:
    """Check a pool's queue references against the AsynqQueue specs of its namespace.

    Refuses references to other namespaces, missing queues, queues whose Secret leaves the
    namespace, queues that live in different Redis Secrets (one pool, one Redis), a
    `spec.template` outside the bounds of `podtemplate.template_problems` (with the
    admin-allowable `allowed_fields`), and cron specs the worker cannot parse.
    """
    problems: list[str] = []
    resolved: list[ResolvedQueue] = []
    secrets: dict[SecretRef, list[str]] = {}
    for entry in spec.get("queues", []):
        name = str(entry["name"])
        other = entry.get("namespace")
        if other and other != namespace:
            problems.append(f"AsynqQueue {other}/{name} is outside namespace {namespace}")
            continue
        queue_spec = queues.get(name)
        if queue_spec is None:
            problems.append(f"AsynqQueue {namespace}/{name} not found")
            continue
        redis_spec = queue_spec.get("redis", {})
        problem = secret_problem(namespace, redis_spec)
        if problem:
            problems.append(f"AsynqQueue {namespace}/{name}: {problem}")
            continue
        secrets.setdefault(SecretRef.from_spec(redis_spec), []).append(name)
        weight = int(entry.get("weight") or queue_spec.get("weight") or 1)
        paused = bool(queue_spec.get("paused", False))
        resolved.append(ResolvedQueue(name, redis_queue_name(namespace, name), weight, paused))
    if len(secrets) > 1:
        listing = "; ".join(f"{ref.name}: {', '.join(names)}" for ref, names in secrets.items())
        problems.append(f"queues use different Redis Secrets ({listing})")
    for schedule in spec.get("schedules", []):
        if schedule["queue"] not in queues:
            problems.append(
                f"schedule {schedule['name']} targets AsynqQueue {namespace}/{schedule['queue']}"
                " which does not exist"
            )
    # Pools stored before the CRD bounded spec.template must not reach a pod either, nor
    # schedules admitted while the webhook was down reach the scheduler.
    problems.extend(template_problems(spec.get("template", {}), allowed_fields))
    problems.extend(schedule_problems(spec))
    secret = next(iter(secrets)) if len(secrets) == 1 else None
    return Resolution(tuple(resolved), secret, tuple(problems))


def names(pool: str) -> dict[str, str]:
    """Names of a pool's owned objects."""
    return {
        "deployment": f"{pool}-worker",
        "configmap": f"{pool}-worker-config",
        "service": f"{pool}-worker-metrics",
    }


def selector_labels(pool: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "kasynq-worker", POOL_LABEL: pool}


def labels(pool: str) -> dict[str, str]:
    return {
        **selector_labels(pool),
        "app.kubernetes.io/instance": pool,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def label_selector(pool: str) -> str:
    """The pool's pod selector as a string (for list calls and the scale subresource)."""
    return ",".join(f"{key}={value}" for key, value in sorted(selector_labels(pool).items()))


def schedule_entry(namespace: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One `schedules:` item as the worker's scheduler reads it (kasynq.scheduler): the payload
    as base64 of its exact bytes, the queue tenant-prefixed, the timeout a Go duration."""
    options: dict[str, Any] = {"queue": redis_queue_name(namespace, entry["queue"])}
    if "maxRetry" in entry:
        options["max_retry"] = int(entry["maxRetry"])
    if entry.get("timeoutSeconds"):
        options["timeout"] = f"{int(entry['timeoutSeconds'])}s"
    item: dict[str, Any] = {
        "name": entry["name"],
        "cron": entry["cron"],
        "type": entry["taskType"],
        "options": options,
    }
    if entry.get("payload"):
        item["payload_base64"] = base64.b64encode(entry["payload"].encode()).decode()
    return item


def worker_config(namespace: str, spec: Mapping[str, Any], resolution: Resolution) -> str:
    """The worker's YAML config (`kasynq worker --config`, see kasynq.config): tenant-prefixed
    queues with weights, concurrency, shutdown timeout and schedules. The Redis URL is not in
    it: the pods read it (and the password and CA) from the Secret through the environment."""
    schedules = [schedule_entry(namespace, entry) for entry in spec.get("schedules", [])]
    config = {
        "handlers": spec["handlers"],
        "concurrency": int(spec.get("concurrency", 10)),
        "queues": {queue.redis_name: queue.weight for queue in resolution.queues},
        "strict": bool(spec.get("strictPriority", False)),
        "shutdown_timeout": int(spec.get("shutdownTimeoutSeconds", 25)),
        "http_port": HTTP_PORT,
        "schedules": schedules,
    }
    return yaml.safe_dump(config, sort_keys=True)


def configmap_manifest(
    pool: str, namespace: str, spec: Mapping[str, Any], resolution: Resolution
) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": names(pool)["configmap"],
            "namespace": namespace,
            "labels": labels(pool),
        },
        "data": {CONFIG_FILE: worker_config(namespace, spec, resolution)},
    }


def service_manifest(pool: str, namespace: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names(pool)["service"],
            "namespace": namespace,
            "labels": labels(pool),
        },
        "spec": {
            "selector": selector_labels(pool),
            "ports": [{"name": "metrics", "port": HTTP_PORT, "targetPort": "http"}],
        },
    }


def _redis_env(secret: SecretRef) -> list[dict[str, Any]]:
    def from_secret(env: str, key: str) -> dict[str, Any]:
        return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret.name, "key": key}}}

    env = [from_secret(REDIS_URL_ENV, secret.url_key)]
    if secret.password_key:
        env.append(from_secret(REDIS_PASSWORD_ENV, secret.password_key))
    if secret.ca_key:  # mounted by deployment_manifest
        env.append({"name": REDIS_CA_FILE_ENV, "value": f"{REDIS_CA_DIR}/{REDIS_CA_FILE}"})
    return env


def operator_env(pool: str, namespace: str, secret: SecretRef) -> list[dict[str, Any]]:
    """The worker container's environment set by the operator; the tenant's env follows."""
    return [
        {"name": "HOSTNAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        # One leader-elected cron scheduler per pool (see docs/scheduler.md).
        {"name": "KASYNQ_SCHEDULER_GROUP", "value": f"{namespace}/{pool}"},
        *_redis_env(secret),
    ]


def merge_override(base: Any, override: Any) -> Any:
    """Deep-merge `override` over `base`: dicts by key, containers by name, other lists replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge_override(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(override, list)
        and all(isinstance(item, dict) and "name" in item for item in base + override)
    ):
        by_name = {item["name"]: item for item in base}
        merged_list = [merge_override(by_name.get(item["name"], {}), item) for item in override]
        overridden = {item["name"] for item in override}
        return [item for item in base if item["name"] not in overridden] + merged_list
    return copy.deepcopy(override)


def config_hash(configmap: Manifest) -> str:
    """A short digest of the worker config, put on the pod template so changes roll out."""
    text = json.dumps(configmap["data"], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def deployment_manifest(
    pool: str,
    namespace: str,
    spec: Mapping[str, Any],
    resolution: Resolution,
    configmap: Manifest,
    replicas: int | None = None,
) -> Manifest:
    """The worker Deployment; `replicas` only when creating (the autoscaler owns it after)."""
    assert resolution.secret is not None, "resolve the pool before building its Deployment"
    template = spec["template"]
    shutdown = int(spec.get("shutdownTimeoutSeconds", 25))
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}}
    ]
    mounts: list[dict[str, Any]] = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    if resolution.secret.ca_key:
        items = [{"key": resolution.secret.ca_key, "path": REDIS_CA_FILE}]
        volumes.append(
            {"name": "redis-ca", "secret": {"secretName": resolution.secret.name, "items": items}}
        )
        mounts.append({"name": "redis-ca", "mountPath": REDIS_CA_DIR, "readOnly": True})
    # Liveness (/healthz) answers whatever Redis does, so its 30 s tolerance (5 s x 6) only
    # covers a stalled event loop; Redis outages show on readiness (/readyz) alone and restart
    # no pod (docs/worker.md "HTTP endpoint").
    probe = {"httpGet": {"port": "http"}, "periodSeconds": 5, "timeoutSeconds": 2}
    container: dict[str, Any] = {
        "name": "worker",
        "image": template["image"],
        "args": ["--config", f"{CONFIG_DIR}/{CONFIG_FILE}"],
        "env": [*operator_env(pool, namespace, resolution.secret), *template.get("env", [])],
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        "livenessProbe": {
            **probe,
            "httpGet": {"path": "/healthz", "port": "http"},
            "failureThreshold": 6,
        },
        "volumeMounts": mounts,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if "imagePullPolicy" in template:
        container["imagePullPolicy"] = template["imagePullPolicy"]
    if "resources" in template:
        container["resources"] = template["resources"]
    pod_template: dict[str, Any] = {
        "metadata": {
            "labels": labels(pool),
            "annotations": {CONFIG_HASH_ANNOTATION: config_hash(configmap)},
        },
        "spec": {
            "terminationGracePeriodSeconds": shutdown + GRACE_MARGIN_SECONDS,
            # Workers never call the Kubernetes API: no token in the pod to steal.
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": WORKER_UID,
                "runAsGroup": WORKER_UID,
                "fsGroup": WORKER_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": volumes,
        },
    }
    if "podTemplate" in template:
        pod_template = merge_override(pod_template, template["podTemplate"])
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(pool)},
        "template": pod_template,
    }
    if replicas is not None:
        deployment_spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names(pool)["deployment"],
            "namespace": namespace,
            "labels": labels(pool),
        },
        "spec": deployment_spec,
    }
