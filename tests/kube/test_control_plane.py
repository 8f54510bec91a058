"""The local control plane behaves like a cluster where it matters to the operator:
Deployments produce ReplicaSets and Pods, owned objects are garbage-collected, CRDs are
served with schema validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.kube import Kube, wait_for

WIDGET_CRD = Path(__file__).with_name("widget-crd.yaml")


def _deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    containers=[client.V1Container(name="main", image="registry.invalid/x:1")]
                ),
            ),
        ),
    )


def _api_error_message(exc: ApiException) -> str:
    return str(json.loads(exc.body)["message"])


def test_deployment_gets_replicaset_and_pods_then_garbage_collected(
    kube: Kube, namespace: str
) -> None:
    apps = client.AppsV1Api(kube.api_client)
    core = client.CoreV1Api(kube.api_client)
    deployment = apps.create_namespaced_deployment(namespace, _deployment("web", 3))

    def replica_sets() -> list[Any]:
        return list(apps.list_namespaced_replica_set(namespace).items)

    def pods() -> list[Any]:
        return list(core.list_namespaced_pod(namespace).items)

    wait_for(lambda: len(replica_sets()) == 1, "kube-controller-manager to create a ReplicaSet")
    (replica_set,) = replica_sets()
    assert replica_set.metadata.owner_references[0].uid == deployment.metadata.uid
    wait_for(lambda: len(pods()) == 3, "the ReplicaSet to create 3 Pods")
    for pod in pods():
        assert pod.metadata.owner_references[0].uid == replica_set.metadata.uid
        assert pod.status.phase == "Pending"  # no scheduler, no kubelet

    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Background")
    wait_for(
        lambda: not replica_sets() and not pods(),
        "the garbage collector to delete the ReplicaSet and its Pods",
    )


def test_schema_violation_is_rejected_with_the_api_servers_message(
    kube: Kube, namespace: str
) -> None:
    kube.kubectl("apply", "-f", str(WIDGET_CRD))
    kube.kubectl("wait", "--for=condition=Established", "crd/widgets.test.kasynq.io")
    custom = client.CustomObjectsApi(kube.api_client)
    widget = {
        "apiVersion": "test.kasynq.io/v1",
        "kind": "Widget",
        "metadata": {"name": "bad"},
        "spec": {"replicas": -1},
    }
    with pytest.raises(ApiException) as raised:
        custom.create_namespaced_custom_object("test.kasynq.io", "v1", namespace, "widgets", widget)
    assert raised.value.status == 422
    assert _api_error_message(raised.value) == (
        'Widget.test.kasynq.io "bad" is invalid: spec.replicas: Invalid value: -1: '
        "spec.replicas in body should be greater than or equal to 0"
    )


def test_project_crds_are_established_and_reject_a_non_object_spec(
    kube: Kube, namespace: str, crds: list[str]
) -> None:
    if not crds:
        pytest.skip("crds/ holds no CustomResourceDefinition yet")
    extensions = client.ApiextensionsV1Api(kube.api_client)
    custom = client.CustomObjectsApi(kube.api_client)
    for name in crds:
        crd = extensions.read_custom_resource_definition(name)
        group, kind, plural = crd.spec.group, crd.spec.names.kind, crd.spec.names.plural
        version = next(v.name for v in crd.spec.versions if v.served)
        body = {
            "apiVersion": f"{group}/{version}",
            "kind": kind,
            "metadata": {"name": "bad"},
            "spec": "not-an-object",
        }
        with pytest.raises(ApiException) as raised:
            custom.create_namespaced_custom_object(group, version, namespace, plural, body)
        assert raised.value.status == 422
        assert 'spec: Invalid value: "string": spec in body must be of type object' in (
            _api_error_message(raised.value)
        )
