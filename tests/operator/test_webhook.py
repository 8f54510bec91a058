"""The operator's validating admission webhook on the real API server: cron specs the
worker's parser rejects are refused at apply time, naming the schedule."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kasynq_operator.webhook import PATH, start_webhook
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from devenv.devcluster import Pki
from devenv.processes import free_port, wait_until
from tests.fixtures.kube import Kube
from tests.operator.test_crds import create, pool

SCHEDULE = {"name": "nightly", "taskType": "report", "queue": "emails"}


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    """The webhook served on loopback with a throwaway CA: (port, CA bundle PEM)."""
    with served(tmp_path, frozenset()) as answer:
        yield answer


@contextlib.contextmanager
def served(tmp_path: Path, allowed_fields: frozenset[str]) -> Iterator[tuple[int, bytes]]:
    """The webhook on loopback (admin-allowed pod spec fields: `allowed_fields`) with a
    throwaway CA: (port, CA bundle PEM)."""
    pki = Pki(tmp_path)
    pki.create()
    pki.issue(
        "tls",
        "/CN=kasynq-operator-webhook",
        ["subjectAltName=IP:127.0.0.1", "extendedKeyUsage=serverAuth"],
    )
    port = free_port()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner = asyncio.run_coroutine_threadsafe(
        start_webhook(port, tmp_path, host="127.0.0.1", allowed_fields=allowed_fields), loop
    ).result(10)
    try:
        yield port, pki.ca_cert.read_bytes()
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def register(kube: Kube, namespace: str, url: str, ca: bytes, failure_policy: str) -> None:
    """A ValidatingWebhookConfiguration as the chart's, limited to the test namespace."""
    body: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": f"kasynq-{namespace}"},
        "webhooks": [
            {
                "name": "asynqworkerpools.kasynq.io",
                "clientConfig": {"url": url, "caBundle": base64.b64encode(ca).decode()},
                "rules": [
                    {
                        "apiGroups": ["kasynq.io"],
                        "apiVersions": ["v1alpha1"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["asynqworkerpools"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "failurePolicy": failure_policy,
                "sideEffects": "None",
                "admissionReviewVersions": ["v1"],
                "timeoutSeconds": 5,
            }
        ],
    }
    api = client.AdmissionregistrationV1Api(kube.api_client)
    api.create_validating_webhook_configuration(body)
    # The apiserver picks a new configuration up asynchronously: wait until it calls us.
    probe = pool("probe", schedules=[{**SCHEDULE, "cron": "not a cron"}])
    custom = client.CustomObjectsApi(kube.api_client)

    def calls_the_webhook() -> bool:
        try:
            custom.create_namespaced_custom_object(
                "kasynq.io", "v1alpha1", namespace, "asynqworkerpools", probe, dry_run="All"
            )
        except ApiException as exc:
            return "spec.schedules[0].cron" in str(exc.body) or failure_policy == "Ignore"
        return failure_policy == "Ignore"

    wait_until(calls_the_webhook, "the apiserver to call the new webhook", 15)


@pytest.fixture
def cleanup_webhooks(kube: Kube, namespace: str) -> Iterator[None]:
    yield
    api = client.AdmissionregistrationV1Api(kube.api_client)
    api.delete_validating_webhook_configuration(f"kasynq-{namespace}")


@pytest.mark.parametrize("cron", ["not a cron", "61 * * * *", "@every banana"])
def test_bad_cron_is_refused_at_apply_time(
    kube: Kube,
    namespace: str,
    crds: list[str],
    webhook: tuple[int, bytes],
    cleanup_webhooks: None,
    cron: str,
) -> None:
    port, ca = webhook
    register(kube, namespace, f"https://127.0.0.1:{port}{PATH}", ca, "Fail")
    body = pool("nightly", schedules=[{**SCHEDULE, "cron": cron}])
    with pytest.raises(ApiException) as caught:
        create(kube, namespace, "asynqworkerpools", body)
    message = json.loads(caught.value.body)["message"]
    assert "spec.schedules[0].cron" in message and repr(cron) in message
    good = pool("fine", schedules=[{**SCHEDULE, "cron": "*/5 * * * *"}])
    assert create(kube, namespace, "asynqworkerpools", good)["metadata"]["name"] == "fine"


def test_pools_can_be_applied_while_the_webhook_is_down(
    kube: Kube, namespace: str, crds: list[str], cleanup_webhooks: None
) -> None:
    """With the chart's failurePolicy Ignore, a down operator does not block tenants; the
    operator refuses the bad cron when it renders the pool (test_operator)."""
    register(kube, namespace, f"https://127.0.0.1:{free_port()}{PATH}", b"", "Ignore")
    body = pool("nightly", schedules=[{**SCHEDULE, "cron": "61 * * * *"}])
    assert create(kube, namespace, "asynqworkerpools", body)["metadata"]["name"] == "nightly"


@pytest.mark.parametrize("allowed", [False, True])
def test_admin_allowable_pod_fields_pass_the_webhook_only_when_allowed(
    kube: Kube,
    namespace: str,
    crds: list[str],
    tmp_path: Path,
    cleanup_webhooks: None,
    allowed: bool,
) -> None:
    """CEL cannot read the cluster admin's setting, so the webhook refuses the admin-allowable
    fields at apply time; when allowed, the CRD stores them (not pruned) for the operator."""
    fields = frozenset({"runtimeClassName"}) if allowed else frozenset()
    template = {
        "image": "registry.invalid/app:1",
        "podTemplate": {"spec": {"runtimeClassName": "gvisor"}},
    }
    with served(tmp_path, fields) as (port, ca):
        register(kube, namespace, f"https://127.0.0.1:{port}{PATH}", ca, "Fail")
        body = pool("sandboxed", template=template)
        if not allowed:
            with pytest.raises(ApiException) as caught:
                create(kube, namespace, "asynqworkerpools", body)
            message = json.loads(caught.value.body)["message"]
            assert "spec.template.podTemplate.spec.runtimeClassName is not allowed" in message
            return
        created = create(kube, namespace, "asynqworkerpools", body)
    assert created["spec"]["template"] == template
