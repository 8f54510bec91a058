"""The chart's ValidatingAdmissionPolicy on the real API server: as the operator's
ServiceAccount, what its RBAC alone would allow (swapping another pod's image, writing
Deployments in kube-system or without a pool's labels and owner) is refused, while the
operator's own writes pass. (test_helm_chart runs the whole operator under the policy.)"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.fixtures.kube import Kube, wait_for
from tests.kube.test_helm_chart import install  # noqa: F401

POLICY_DENIAL = "ValidatingAdmissionPolicy"
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
POOL_LABELS = {
    "app.kubernetes.io/name": "kasynq-worker",
    "kasynq.io/pool": "mail",
    "app.kubernetes.io/managed-by": "kasynq-operator",
}


def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]},
    }


def image_swap(image: str = "registry.invalid/evil:1") -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "app", "image": image}]}}


def annotation(key: str, value: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {key: value}}}


def refusal(call: Callable[[], object]) -> str:
    """The API server's refusal message of `call`, or "" when it was allowed."""
    try:
        call()
    except ApiException as exc:
        return str(exc.body)
    return ""


@dataclass
class Operator:
    """API handles of the chart's ServiceAccount (impersonated) and of the admin."""

    user: str
    core: client.CoreV1Api
    apps: client.AppsV1Api


@pytest.fixture
def operator(kube: Kube, namespace: str, install: object) -> Iterator[Operator]:  # noqa: F811
    """The chart installed cluster-wide, and its ServiceAccount once the policy is in force."""
    assert callable(install)
    user = str(install())
    api = config.new_client_from_config(config_file=str(kube.kubeconfig))
    api.set_default_header("Impersonate-User", user)
    as_operator = Operator(user, client.CoreV1Api(api), client.AppsV1Api(api))
    admin = client.CoreV1Api(kube.api_client)
    admin.create_namespaced_pod(namespace, pod("victim", {"app": "other"}))
    wait_for(
        lambda: (
            POLICY_DENIAL
            in refusal(
                lambda: as_operator.core.patch_namespaced_pod("victim", namespace, image_swap())
            )
        ),
        "the admission policy in force",
    )
    yield as_operator
    api.close()


def test_operator_account_cannot_swap_the_image_of_another_pod(
    kube: Kube, namespace: str, operator: Operator
) -> None:
    admin = client.CoreV1Api(kube.api_client)
    admin.create_namespaced_pod(namespace, pod("mail-worker-1", {"kasynq.io/pool": "mail"}))

    def patch(name: str, body: dict[str, Any]) -> str:
        return refusal(lambda: operator.core.patch_namespaced_pod(name, namespace, body))

    assert POLICY_DENIAL in patch("victim", image_swap())
    assert POLICY_DENIAL in patch("mail-worker-1", image_swap())
    assert POLICY_DENIAL in patch(
        "mail-worker-1", {"metadata": {"labels": {"kasynq.io/pool": "x"}}}
    )
    assert POLICY_DENIAL in patch("mail-worker-1", annotation("evil", "1"))
    assert POLICY_DENIAL in patch("victim", annotation(DELETION_COST, "5"))
    assert patch("mail-worker-1", annotation(DELETION_COST, "5")) == ""
    assert admin.read_namespaced_pod("mail-worker-1", namespace).metadata.annotations == {
        DELETION_COST: "5"
    }


def owned_deployment(namespace: str, pool_uid: str) -> dict[str, Any]:
    owner = {
        "apiVersion": "kasynq.io/v1alpha1",
        "kind": "AsynqWorkerPool",
        "name": "mail",
        "uid": pool_uid,
        "controller": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "mail-worker",
            "namespace": namespace,
            "labels": POOL_LABELS,
            "ownerReferences": [owner],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": POOL_LABELS},
            "template": {
                "metadata": {"labels": POOL_LABELS},
                "spec": {"containers": [{"name": "worker", "image": "registry.invalid/a:1"}]},
            },
        },
    }


def test_operator_account_writes_only_pool_objects_outside_kube_system(
    kube: Kube, namespace: str, crds: list[str], operator: Operator
) -> None:
    custom = client.CustomObjectsApi(kube.api_client)
    pool = custom.create_namespaced_custom_object(
        "kasynq.io", "v1alpha1", namespace, "asynqworkerpools",
        {
            "apiVersion": "kasynq.io/v1alpha1",
            "kind": "AsynqWorkerPool",
            "metadata": {"name": "mail"},
            "spec": {
                "queues": [{"name": "jobs"}],
                "handlers": "app.tasks:mux",
                "template": {"image": "registry.invalid/app:1"},
            },
        },
    )  # fmt: skip
    owned = owned_deployment(namespace, pool["metadata"]["uid"])
    in_kube_system = copy.deepcopy(owned)
    in_kube_system["metadata"]["namespace"] = "kube-system"
    unlabelled = copy.deepcopy(owned)
    unlabelled["metadata"] = {"name": "miner"}
    unowned = copy.deepcopy(owned)
    del unowned["metadata"]["ownerReferences"]
    unowned["metadata"]["name"] = "unowned"

    def create(namespace_: str, body: dict[str, Any]) -> str:
        return refusal(lambda: operator.apps.create_namespaced_deployment(namespace_, body))

    assert POLICY_DENIAL in create("kube-system", in_kube_system)
    assert POLICY_DENIAL in create(namespace, unlabelled)
    assert POLICY_DENIAL in create(namespace, unowned)
    assert create(namespace, owned) == ""
    admin = client.AppsV1Api(kube.api_client)
    theirs = copy.deepcopy(unlabelled)
    theirs["metadata"] = {"name": "theirs"}
    admin.create_namespaced_deployment(namespace, theirs)
    takeover = {
        "metadata": {"labels": POOL_LABELS, "ownerReferences": owned["metadata"]["ownerReferences"]}
    }
    assert POLICY_DENIAL in refusal(
        lambda: operator.apps.patch_namespaced_deployment("theirs", namespace, takeover)
    )
    scale = {"spec": {"replicas": 2}}
    assert (
        refusal(lambda: operator.apps.patch_namespaced_deployment("mail-worker", namespace, scale))
        == ""
    )
