"""Kubernetes API calls of the operator (blocking; handlers run them in threads).

Owned objects are written with server-side apply under the `kasynq-operator` field manager,
which repairs drift in every field the operator sets. The autoscaler changes a Deployment's
`spec.replicas` with a merge patch; the pool's reconcile re-applies the live size, and both
run one after the other in the pool's step (`poller.Poller`), so they never race.

Requests go through the client library's `ApiClient` (configuration, credentials, TLS,
`ApiException`) as plain JSON: its generated API classes (`CoreV1Api`, ...) import hundreds
of pydantic models and build validators for every method, about 26 MiB of the operator's
resident memory, and their responses are model objects converted back to dicts.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

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
JSON = "application/json"
EVENT_MESSAGE_LIMIT = 1024
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
    """The operator's few Kubernetes calls, as plain JSON over one `ApiClient`."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self._client = api_client

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """One request; the response's JSON object. Raises ApiException (with the server's
        status and body) on a status outside 2xx, as the generated API classes do."""
        headers = {"Accept": "application/json"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        _, url, headers, body, _ = self._client.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self._client.call_api(method, url, headers, body)
        data: bytes = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            text = data.decode(errors="replace")
            raise ApiException.from_response(http_resp=response, body=text, data=None)
        return dict(json.loads(data))

    def apply(self, manifest: Manifest, owner: Mapping[str, Any]) -> dict[str, Any]:
        """Create or server-side apply a ConfigMap, Service or Deployment owned by `owner`;
        returns the object as written."""
        body = {**manifest, "metadata": {**manifest["metadata"]}}
        body["metadata"]["ownerReferences"] = [owner_reference(owner)]
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        return self._call(
            "PATCH",
            _object_path(body["kind"], namespace, name),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=body,
            content_type=APPLY,
        )

    def read_secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret's labels and decoded data, or None when it does not exist."""
        try:
            secret = self._call("GET", _object_path("Secret", namespace, name))
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise
        meta = secret.get("metadata", {})
        return {
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "data": _decoded(secret),
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
        self._call(
            "PATCH",
            _object_path("Secret", namespace, name),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=body,
            content_type=APPLY,
        )

    def restart_workers_using(self, namespace: str, secret: str, stamp: str) -> list[str]:
        """Roll the pools' worker Deployments whose env reads `secret` (a pod template
        annotation, under its own field manager so the pool's apply keeps it); their names."""
        selector = f"app.kubernetes.io/managed-by={MANAGED_BY}"
        listed = self._call(
            "GET", _object_path("Deployment", namespace), query={"labelSelector": selector}
        )
        rolled: list[str] = []
        for deployment in listed["items"]:
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
            self._call(
                "PATCH",
                _object_path("Deployment", namespace, name),
                query={"fieldManager": ROTATION_FIELD_MANAGER},
                body=patch,
                content_type=MERGE,
            )
            rolled.append(name)
        return rolled

    def delete_secret(self, namespace: str, name: str) -> None:
        try:
            self._call("DELETE", _object_path("Secret", namespace, name))
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", _object_path("Deployment", namespace, name))
        except ApiException as exc:
            if exc.status == NOT_FOUND:
                return None
            raise

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set spec.replicas; returns the Deployment as written."""
        return self._call(
            "PATCH",
            _object_path("Deployment", namespace, name),
            query={"fieldManager": AUTOSCALER_FIELD_MANAGER},
            body={"spec": {"replicas": replicas}},
            content_type=MERGE,
        )

    def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> None:
        """Merge-patch the status subresource of one of our custom resources."""
        path = _object_path(plural, namespace, name)
        self._call("PATCH", f"{path}/status", body={"status": dict(status)}, content_type=MERGE)

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        return _decoded(self._call("GET", _object_path("Secret", namespace, name)))

    def list_pods(self, namespace: str, selector: str) -> list[PodInfo]:
        listed = self._call(
            "GET", _object_path("Pod", namespace), query={"labelSelector": selector}
        )
        result = []
        for pod in listed["items"]:
            meta = pod["metadata"]
            cost = (meta.get("annotations") or {}).get(DELETION_COST_ANNOTATION)
            result.append(
                PodInfo(
                    name=meta["name"],
                    deletion_cost=int(cost) if cost is not None else None,
                    terminating=meta.get("deletionTimestamp") is not None,
                )
            )
        return result

    def post_event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """A core/v1 Event about `involved` (an object reference with namespace and uid), as
        kopf posts them; messages are cut to the API's 1,024 characters."""
        if len(message) > EVENT_MESSAGE_LIMIT:
            half = EVENT_MESSAGE_LIMIT // 2 - 2
            message = f"{message[:half]}...{message[-half:]}"
        now = datetime.now(UTC).isoformat()
        namespace = involved["namespace"]
        body = {
            "metadata": {"namespace": namespace, "generateName": "kasynq-event-"},
            "type": type_,
            "reason": reason,
            "message": message,
            "action": reason,
            "reportingComponent": FIELD_MANAGER,
            "reportingInstance": FIELD_MANAGER,
            "source": {"component": FIELD_MANAGER},
            "involvedObject": dict(involved),
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": now,
        }
        self._call("POST", _object_path("Event", namespace), body=body, content_type=JSON)

    def annotate_pod(self, namespace: str, name: str, key: str, value: str) -> None:
        self._call(
            "PATCH",
            _object_path("Pod", namespace, name),
            query={"fieldManager": AUTOSCALER_FIELD_MANAGER},
            body={"metadata": {"annotations": {key: value}}},
            content_type=MERGE,
        )


_COLLECTIONS = {
    "ConfigMap": "/api/v1/namespaces/{namespace}/configmaps",
    "Pod": "/api/v1/namespaces/{namespace}/pods",
    "Secret": "/api/v1/namespaces/{namespace}/secrets",
    "Service": "/api/v1/namespaces/{namespace}/services",
    "Deployment": "/apis/apps/v1/namespaces/{namespace}/deployments",
    "Event": "/api/v1/namespaces/{namespace}/events",
}


def _object_path(kind: str, namespace: str, name: str | None = None) -> str:
    """The API path of a namespaced object, or of its collection: `kind` is a built-in kind
    or the plural of one of our custom resources."""
    template = _COLLECTIONS.get(kind, f"/apis/{GROUP}/{VERSION}/namespaces/{{namespace}}/{kind}")
    collection = template.format(namespace=quote(namespace, safe=""))
    return collection if name is None else f"{collection}/{quote(name, safe='')}"


def _decoded(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's data, base64-decoded."""
    return {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
