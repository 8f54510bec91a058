"""The CRDs on the real API server: defaults filled in, invalid resources refused by our rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.kube import Kube

GROUP, VERSION = "kasynq.io", "v1alpha1"


def pool(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "queues": [{"name": "emails"}],
        "handlers": "app.tasks:mux",
        "template": {"image": "registry.invalid/app:1"},
    }
    body.update(spec)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AsynqWorkerPool",
        "metadata": {"name": name},
        "spec": body,
    }


def create(kube: Kube, namespace: str, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    api = client.CustomObjectsApi(kube.api_client)
    return dict(api.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body))


def rejection(kube: Kube, namespace: str, plural: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as caught:
        create(kube, namespace, plural, body)
    assert caught.value.status == 422
    return str(json.loads(caught.value.body)["message"])


def test_pool_defaults_are_filled_in(kube: Kube, namespace: str, crds: list[str]) -> None:
    created = create(kube, namespace, "asynqworkerpools", pool("mail"))
    spec = created["spec"]
    assert spec["replicas"] == {"min": 1, "max": 10}
    assert spec["autoscaling"]["pollIntervalSeconds"] == 2
    assert spec["autoscaling"]["scaleDownStabilizationSeconds"] == 120
    assert spec["concurrency"] == 10 and spec["shutdownTimeoutSeconds"] == 25


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"replicas": {"min": 5, "max": 2}},
            "spec.replicas.min must be less than or equal to spec.replicas.max",
        ),
        (
            {"autoscaling": {"targetLatencySeconds": 0}},
            "spec.autoscaling.targetLatencySeconds must be greater than 0",
        ),
        (
            {"autoscaling": {"targetBacklogPerReplica": -1}},
            "spec.autoscaling.targetBacklogPerReplica must be greater than 0",
        ),
        ({"queues": [{"name": "Bad{Name}"}]}, "spec.queues[0].name"),
    ],
    ids=["min-over-max", "zero-latency-target", "negative-backlog-target", "bad-queue-name"],
)
def test_invalid_pool_is_rejected_with_the_rule_message(
    kube: Kube, namespace: str, crds: list[str], spec: dict[str, Any], message: str
) -> None:
    assert message in rejection(kube, namespace, "asynqworkerpools", pool("bad", **spec))


def test_queue_name_must_be_a_dns_label(kube: Kube, namespace: str, crds: list[str]) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AsynqQueue",
        "metadata": {"name": "has.dots"},
        "spec": {"redis": {"secretName": "redis"}},
    }
    assert "must be a DNS label" in rejection(kube, namespace, "asynqqueues", body)


def test_scale_subresource_sets_the_fixed_size(kube: Kube, namespace: str, crds: list[str]) -> None:
    create(kube, namespace, "asynqworkerpools", pool("mail", autoscaling={"enabled": False}))
    kube.kubectl("scale", "-n", namespace, "asynqworkerpool/mail", "--replicas=3")
    api = client.CustomObjectsApi(kube.api_client)
    got = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "asynqworkerpools", "mail")
    assert got["spec"]["replicas"]["desired"] == 3


def test_kubectl_scale_is_refused_while_autoscaling_is_on(
    kube: Kube, namespace: str, crds: list[str]
) -> None:
    """It used to answer "scaled" and change nothing: the autoscaler ignores the fixed size."""
    create(kube, namespace, "asynqworkerpools", pool("auto"))
    result = kube.cluster.kubectl("scale", "-n", namespace, "asynqworkerpool/auto", "--replicas=3")
    assert result.returncode != 0, result.stdout
    assert "set spec.autoscaling.enabled to false first" in result.stderr
    api = client.CustomObjectsApi(kube.api_client)
    got = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "asynqworkerpools", "auto")
    assert "desired" not in got["spec"]["replicas"]


def worker_args_for(queue: str) -> dict[str, Any]:
    return {"containers": [{"name": "worker", "args": ["--queues", f"{queue}=1"]}]}


HOSTILE_TEMPLATES: dict[str, tuple[dict[str, Any], str]] = {
    "consume-team-b": (
        {"podTemplate": {"spec": worker_args_for("team-b:work")}},
        "spec.template.podTemplate.spec.containers",
    ),
    "init-container": (
        {"podTemplate": {"spec": {"initContainers": [{"name": "x", "image": "x"}]}}},
        "spec.template.podTemplate.spec.initContainers",
    ),
    "root": (
        {"podTemplate": {"spec": {"securityContext": {"runAsUser": 0}}}},
        "spec.template.podTemplate.spec.securityContext",
    ),
    "host-network": (
        {"podTemplate": {"spec": {"hostNetwork": True}}},
        "spec.template.podTemplate.spec.hostNetwork",
    ),
    "service-account": (
        {"podTemplate": {"spec": {"serviceAccountName": "admin"}}},
        "spec.template.podTemplate.spec.serviceAccountName",
    ),
    "token": (
        {"podTemplate": {"spec": {"automountServiceAccountToken": True}}},
        "spec.template.podTemplate.spec.automountServiceAccountToken",
    ),
    "host-path": (
        {"podTemplate": {"spec": {"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}}},
        "spec.template.podTemplate.spec.volumes[0]",
    ),
    "replace-worker-config": (
        {"podTemplate": {"spec": {"volumes": [{"name": "config", "configMap": {"name": "m"}}]}}},
        "spec.template.podTemplate.spec.volumes[0].name",
    ),
    "redis-url-env": (
        {"env": [{"name": "KASYNQ_REDIS_URL", "value": "redis://elsewhere"}]},
        "spec.template.env[0].name",
    ),
    "pool-label": (
        {"podTemplate": {"metadata": {"labels": {"kasynq.io/pool": "theirs"}}}},
        "spec.template.podTemplate.metadata.labels",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_TEMPLATES))
def test_pod_template_outside_the_bounds_is_refused_naming_the_field(
    kube: Kube, namespace: str, crds: list[str], case: str
) -> None:
    """A tenant cannot reach another tenant's queue or widen its pods' rights: refused at
    apply time by the CRD, whoever the client (no operator needed)."""
    extra, field = HOSTILE_TEMPLATES[case]
    template = {"image": "registry.invalid/app:1", **extra}
    message = rejection(kube, namespace, "asynqworkerpools", pool("hostile", template=template))
    assert field in message


def test_pod_settings_within_the_bounds_are_stored(
    kube: Kube, namespace: str, crds: list[str]
) -> None:
    pod_template = {
        "metadata": {"labels": {"team": "a"}, "annotations": {"owner": "a"}},
        "spec": {
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists"}],
            "affinity": {"nodeAffinity": {}},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone"}],
            "priorityClassName": "low",
            "imagePullSecrets": [{"name": "registry"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }
    template = {
        "image": "registry.invalid/app:1",
        "env": [{"name": "APP_MODE", "value": "batch"}],
        "podTemplate": pod_template,
    }
    created = create(kube, namespace, "asynqworkerpools", pool("fine", template=template))
    assert created["spec"]["template"] == template


@pytest.mark.parametrize("handlers", ["app/tasks.py", "app.tasks", "app.tasks:", "app tasks:mux"])
def test_handlers_of_the_wrong_shape_are_refused(
    kube: Kube, namespace: str, crds: list[str], handlers: str
) -> None:
    message = rejection(kube, namespace, "asynqworkerpools", pool("bad", handlers=handlers))
    assert "spec.handlers" in message and "package.module:attribute" in message


@pytest.mark.parametrize("secret_name", ["Bad Name!", "UPPER", "-dash", "x" * 254])
def test_secret_names_that_are_not_names_are_refused(
    kube: Kube, namespace: str, crds: list[str], secret_name: str
) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AsynqQueue",
        "metadata": {"name": "emails"},
        "spec": {"redis": {"secretName": secret_name}},
    }
    assert "spec.redis.secretName" in rejection(kube, namespace, "asynqqueues", body)
