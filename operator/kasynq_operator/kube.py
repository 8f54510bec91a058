"""Kubernetes API calls of the operator (blocking; handlers run them in threads).

Owned objects are written with server-side apply under the `kasynq-operator` field manager,
which repairs drift in every field the operator sets. The autoscaler changes a Deployment's
`spec.replicas` with a merge patch; the pool's reconcile re-applies the live size, and both
run in the pool's one daemon, so they never race.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kasynq_operator.resources import (
    DELETION_COST_ANNOTATION,
    GROUP,
    MANAGED_BY,
    VERSION,
    Manifest,
)

logger = logging.getLogger(__name__)

FIELD_MANAGER = "kasynq-operator"
AUTOSCALER_FIELD_MANAGER = "kasynq-autoscaler"
ROTATION_FIELD_MANAGER = "kasynq-rotation"
CREDENTIALS_ROTATED_ANNOTATION = "kasynq.io/redis-credentials-rotated-at"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
NOT_FOUND = 404


def load_api_client() -> client.ApiClient:
    """In-cluster credentials when running in a pod, else the current kubeconfig."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        # KUBECONFIG is read now, not when the kubernetes package was imported.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))  # type: ignore[no-untyped-call]
    return client.ApiClient()


def api_error_message(exc: ApiException) -> str:
    """The API server's own message of a failed request (e.g. which field is invalid)."""
    try:
        return str(json.loads(exc.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return f"{exc.status} {exc.reason}"


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """A controller owner reference to a custom resource body (garbage collection)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def version_mark(obj: Mapping[str, Any]) -> str:
    """What changes when someone edits an owned object's desired state: a Deployment's
    generation (status updates do not bump it), else the resourceVersion."""
    metadata = obj["metadata"]
    if obj.get("kind") == "Deployment":
        return f"generation={metadata.get('generation')}"
    return f"resourceVersion={metadata.get('resourceVersion')}"


@dataclass(frozen=True)
class PodInfo:
    """What the deletion-cost step needs of a pod."""

    name: str
    deletion_cost: int | None
    terminating: bool


class KubeApi:
    """Thin typed wrapper over the generated clients, returning plain dicts."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)

    def _plain(self, obj: Any) -> Any:
        return self._client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]

    def apply(self, manifest: Manifest, owner: Mapping[str, Any]) -> dict[str, Any]:
        """Create or server-side apply a ConfigMap, Service or Deployment owned by `owner`;
        returns the object as written."""
        body = {**manifest, "metadata": {**manifest["metadata"]}}
        body["metadata"]["ownerReferences"] = [owner_reference(owner)]
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        patch = {
            "ConfigMap": self.core.patch_namespaced_config_map,
            "Service": self.core.patch_namespaced_service,
            "Deployment": self.apps.patch_namespaced_deployment,
        }[body["kind"]]
        written = patch(
            name,
            namespace,
            body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY,
        )
        return dict(self._plain(written))

    def read_secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret's labels and decoded data, or None when it does not exist."""
        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        data = {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}
        meta = secret.metadata or client.V1ObjectMeta()
        return {
            "labels": dict(meta.labels or {}),
            "annotations": dict(meta.annotations or {}),
            "data": data,
        }

    def apply_secret(
        self,
        namespace: str,
        name: str,
        metadata: Mapping[str, dict[str, str]],
        data: dict[str, str],
    ) -> None:
        """Create or server-side apply a Secret the operator manages (`metadata`: its labels
        and annotations; no owner: it outlives any one custom resource and is deleted
        explicitly)."""
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, **metadata},
            "stringData": data,
        }
        self.core.patch_namespaced_secret(
            name, namespace, body, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY
        )

    def restart_workers_using(self, namespace: str, secret: str, stamp: str) -> list[str]:
        """Roll the pools' worker Deployments whose env reads `secret` (a pod template
        annotation, under its own field manager so the pool's apply keeps it); their names."""
        selector = f"app.kubernetes.io/managed-by={MANAGED_BY}"
        listed = self.apps.list_namespaced_deployment(namespace, label_selector=selector)
        rolled: list[str] = []
        for deployment in self._plain(listed)["items"]:
            env = [
                item
                for container in deployment["spec"]["template"]["spec"]["containers"]
                for item in container.get("env", [])
            ]
            refs = {item.get("valueFrom", {}).get("secretKeyRef", {}).get("name") for item in env}
            if secret not in refs:
                continue
            name = str(deployment["metadata"]["name"])
            annotations = {CREDENTIALS_ROTATED_ANNOTATION: stamp}
            patch = {"spec": {"template": {"metadata": {"annotations": annotations}}}}
            self.apps.patch_namespaced_deployment(
                name,
                namespace,
                patch,
                field_manager=ROTATION_FIELD_MANAGER,
                _content_type=MERGE,
            )
            rolled.append(name)
        return rolled

    def delete_secret(self, namespace: str, name: str) -> None:
        try:
            self.core.delete_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._plain(self.apps.read_namespaced_deployment(name, namespace)))
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set spec.replicas; returns the Deployment as written."""
        written = self.apps.patch_namespaced_deployment(
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            field_manager=AUTOSCALER_FIELD_MANAGER,
            _content_type=MERGE,
        )
        return dict(self._plain(written))

    def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        """Merge-patch the status subresource of one of our custom resources."""
        self.custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, plural, name, {"status": dict(status)}, _content_type=MERGE
        )

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        secret = self.core.read_namespaced_secret(name, namespace)
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]:
        pods = self.core.list_namespaced_pod(namespace, label_selector=selector).items
        result = []
        for pod in pods:
            meta = pod.metadata
            assert meta is not None and meta.name is not None
            cost = (meta.annotations or {}).get(DELETION_COST_ANNOTATION)
            result.append(
                PodInfo(
                    name=meta.name,
                    deletion_cost=int(cost) if cost is not None else None,
                    terminating=meta.deletion_timestamp is not None,
                )
            )
        return result

    def annotate_pod(self, namespace: str, name: str, key: str, value: str) -> None:
        self.core.patch_namespaced_pod(
            name,
            namespace,
            {"metadata": {"annotations": {key: value}}},
            field_manager=AUTOSCALER_FIELD_MANAGER,
            _content_type=MERGE,
        )
