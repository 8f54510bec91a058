"""Pure manifest builders and reference checks of the operator."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kasynq.config import load_file, resolve
from kasynq.scheduler import parse_entry_config
from kasynq_operator import podtemplate
from kasynq_operator.resources import (
    DELETION_COST_ANNOTATION,
    configmap_manifest,
    deployment_manifest,
    merge_override,
    resolve_pool,
    service_manifest,
)

REPO = Path(__file__).resolve().parents[2]
QUEUES = {
    "emails": {"redis": {"secretName": "redis", "urlKey": "url"}, "weight": 3},
    "reports": {"redis": {"secretName": "redis", "urlKey": "url"}, "paused": True},
    "elsewhere": {"redis": {"secretName": "other"}},
    "sneaky": {"redis": {"secretName": "redis", "namespace": "kube-system"}},
}


def pool_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "queues": [{"name": "emails"}, {"name": "reports", "weight": 5}],
        "handlers": "app.tasks:mux",
        "concurrency": 4,
        "shutdownTimeoutSeconds": 30,
        "template": {"image": "registry.example/app:1"},
        "schedules": [
            {
                "name": "nightly",
                "cron": "0 3 * * *",
                "taskType": "report",
                "queue": "reports",
                "payload": '{"kind": "daily"}',
                "maxRetry": 2,
                "timeoutSeconds": 90,
            }
        ],
    }
    spec.update(overrides)
    return spec


def test_resolves_tenant_prefixed_queues_and_weights() -> None:
    resolution = resolve_pool("team-a", pool_spec(), QUEUES)
    assert resolution.ok, resolution.problems
    assert [(q.redis_name, q.weight, q.paused) for q in resolution.queues] == [
        ("team-a:emails", 3, False),
        ("team-a:reports", 5, True),
    ]
    assert resolution.secret is not None and resolution.secret.name == "redis"


def test_refuses_cross_namespace_queue_and_names_it() -> None:
    spec = pool_spec(queues=[{"name": "emails", "namespace": "team-b"}])
    resolution = resolve_pool("team-a", spec, QUEUES)
    assert not resolution.ok
    assert "AsynqQueue team-b/emails is outside namespace team-a" in resolution.problems


def test_refuses_queue_whose_secret_is_in_another_namespace() -> None:
    resolution = resolve_pool("team-a", pool_spec(queues=[{"name": "sneaky"}]), QUEUES)
    assert any("Secret kube-system/redis" in problem for problem in resolution.problems)


def test_refuses_missing_queues_and_mixed_secrets() -> None:
    spec = pool_spec(queues=[{"name": "emails"}, {"name": "elsewhere"}, {"name": "ghost"}])
    problems = " | ".join(resolve_pool("team-a", spec, QUEUES).problems)
    assert "AsynqQueue team-a/ghost not found" in problems
    assert "different Redis Secrets" in problems


def test_worker_config_is_accepted_by_the_worker(tmp_path: Path) -> None:
    spec = pool_spec()
    configmap = configmap_manifest("mail", "team-a", spec, resolve_pool("team-a", spec, QUEUES))
    path = tmp_path / "worker.yaml"
    path.write_text(configmap["data"]["worker.yaml"])
    loaded = load_file(path)
    assert loaded["queues"] == {"team-a:emails": 3, "team-a:reports": 5}
    assert loaded["concurrency"] == 4 and loaded["shutdown_timeout"] == 30
    (schedule,) = yaml.safe_load(path.read_text())["schedules"]
    entry = parse_entry_config(0, schedule)
    assert (entry.name, entry.cron, entry.task.type) == ("nightly", "0 3 * * *", "report")
    assert entry.task.payload == b'{"kind": "daily"}'
    assert entry.options == {
        "queue": "team-a:reports",
        "max_retry": 2,
        "timeout": timedelta(seconds=90),
    }


def test_deployment_pods_follow_the_contract() -> None:
    spec = pool_spec(template={"image": "img:1", "env": [{"name": "X", "value": "1"}]})
    resolution = resolve_pool("team-a", spec, QUEUES)
    configmap = configmap_manifest("mail", "team-a", spec, resolution)
    deployment = deployment_manifest("mail", "team-a", spec, resolution, configmap, replicas=2)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["KASYNQ_REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis", "key": "url"}
    assert env["X"]["value"] == "1"
    assert env["KASYNQ_SCHEDULER_GROUP"]["value"] == "team-a/mail"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["terminationGracePeriodSeconds"] == 30 + 15
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert deployment["spec"]["replicas"] == 2
    assert DELETION_COST_ANNOTATION not in deployment["spec"]["template"]["metadata"]["annotations"]


def test_pods_get_the_redis_password_and_ca_file_the_worker_reads(tmp_path: Path) -> None:
    redis_spec = {"secretName": "redis", "passwordKey": "pw", "caKey": "ca"}
    queues = {"emails": {"redis": redis_spec}}
    spec = pool_spec(queues=[{"name": "emails"}])
    resolution = resolve_pool("team-a", spec, queues)
    configmap = configmap_manifest("mail", "team-a", spec, resolution)
    pod = deployment_manifest("mail", "team-a", spec, resolution, configmap)["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert env["KASYNQ_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "redis",
        "key": "pw",
    }
    ca_file = Path(env["KASYNQ_REDIS_CA_FILE"]["value"])
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "redis-ca"]
    (volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == "redis-ca"]
    assert ca_file == Path(mount["mountPath"]) / volume["secret"]["items"][0]["path"]
    # The worker accepts what the pod gets: the CA file setting, read from the environment.
    ca_file_here = tmp_path / "ca.crt"
    ca_file_here.write_text("pem")
    settings = resolve(None, {"handlers": "m:mux", "redis_ca_file": str(ca_file_here)})
    assert settings.redis_options() == {"ssl_ca_certs": str(ca_file_here)}


def test_config_change_changes_the_pod_template() -> None:
    spec = pool_spec()
    resolution = resolve_pool("team-a", spec, QUEUES)
    first = configmap_manifest("mail", "team-a", spec, resolution)
    second = configmap_manifest("mail", "team-a", pool_spec(concurrency=8), resolution)

    def template_of(configmap: dict[str, Any]) -> Any:
        return deployment_manifest("mail", "team-a", spec, resolution, configmap)["spec"][
            "template"
        ]

    assert template_of(first) != template_of(second)


def test_pod_template_override_merges_containers_by_name() -> None:
    base = {"spec": {"containers": [{"name": "worker", "image": "a", "args": ["x"]}]}}
    override = {
        "metadata": {"labels": {"team": "a"}},
        "spec": {
            "containers": [{"name": "worker", "image": "b"}, {"name": "sidecar", "image": "s"}],
            "nodeSelector": {"pool": "batch"},
        },
    }
    merged = merge_override(base, override)
    assert merged["spec"]["containers"] == [
        {"name": "worker", "image": "b", "args": ["x"]},
        {"name": "sidecar", "image": "s"},
    ]
    assert merged["spec"]["nodeSelector"] == {"pool": "batch"}
    assert merged["metadata"]["labels"] == {"team": "a"}


def test_service_selects_the_pool_pods() -> None:
    service = service_manifest("mail", "team-a")
    assert service["spec"]["selector"]["kasynq.io/pool"] == "mail"
    assert service["spec"]["ports"][0]["port"] == 8080


def test_pod_template_outside_the_bounds_is_refused_by_the_operator_too() -> None:
    """Pools stored before the CRD bounded spec.template (Helm does not upgrade CRDs) are
    refused when rendered, naming each field."""
    template = {
        "image": "img:1",
        "env": [{"name": "KASYNQ_REDIS_URL", "value": "redis://elsewhere"}],
        "podTemplate": {
            "metadata": {"labels": {"kasynq.io/pool": "theirs"}},
            "spec": {
                "containers": [{"name": "worker", "args": ["--queues", "team-b:work=1"]}],
                "volumes": [{"name": "config", "hostPath": {"path": "/"}}],
            },
        },
    }
    resolution = resolve_pool("team-a", pool_spec(template=template), QUEUES)
    assert not resolution.ok
    problems = "\n".join(resolution.problems)
    for field in (
        "spec.template.env[0].name",
        "spec.template.podTemplate.metadata.labels[kasynq.io/pool]",
        "spec.template.podTemplate.spec.containers",
        "spec.template.podTemplate.spec.volumes[0]: must set exactly one of",
        "spec.template.podTemplate.spec.volumes[0].name",
    ):
        assert field in problems


def test_worker_pods_mount_no_service_account_token() -> None:
    spec = pool_spec()
    resolution = resolve_pool("team-a", spec, QUEUES)
    configmap = configmap_manifest("mail", "team-a", spec, resolution)
    pod = deployment_manifest("mail", "team-a", spec, resolution, configmap)["spec"]["template"]
    assert pod["spec"]["automountServiceAccountToken"] is False


def test_crd_and_operator_agree_on_the_pod_template_bounds() -> None:
    """The CRD's refusals and the operator's check are two copies of one list."""
    crd = yaml.safe_load((REPO / "crds" / "asynqworkerpool.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template = schema["properties"]["spec"]["properties"]["template"]["properties"]
    pod_spec = template["podTemplate"]["properties"]["spec"]["properties"]
    refused = {
        name
        for name, field in pod_spec.items()
        if any(rule["rule"] == "false" for rule in field.get("x-kubernetes-validations", []))
    }
    # Admin-allowable fields stay in the schema (not pruned) without a CRD refusal: the
    # webhook and the operator refuse them unless the cluster admin allowed them.
    assert set(pod_spec) - refused == podtemplate.ALLOWED_SPEC | podtemplate.ADMIN_ALLOWABLE_SPEC
    assert not refused & (podtemplate.ALLOWED_SPEC | podtemplate.ADMIN_ALLOWABLE_SPEC)
    assert not podtemplate.ALLOWED_SPEC & podtemplate.ADMIN_ALLOWABLE_SPEC
    volume = pod_spec["volumes"]["items"]["properties"]
    assert set(volume) - {"name"} == set(podtemplate.SAFE_VOLUME_KINDS)
    metadata = template["podTemplate"]["properties"]["metadata"]["properties"]
    assert set(metadata) == podtemplate.ALLOWED_METADATA


def test_chart_offers_exactly_the_admin_allowable_fields() -> None:
    schema = json.loads((REPO / "helm" / "kasynq" / "values.schema.json").read_text())
    items = schema["properties"]["workerPodTemplate"]["properties"]["allowedFields"]["items"]
    assert set(items["enum"]) == podtemplate.ADMIN_ALLOWABLE_SPEC


def test_admin_allowable_fields_pass_only_when_the_admin_allowed_them() -> None:
    template = {"image": "img:1", "podTemplate": {"spec": {"runtimeClassName": "gvisor"}}}
    (problem,) = resolve_pool("team-a", pool_spec(template=template), QUEUES).problems
    assert "spec.template.podTemplate.spec.runtimeClassName is not allowed in this cluster" in (
        problem
    )
    assert "workerPodTemplate.allowedFields" in problem
    allowed = podtemplate.allowed_fields_from_env(
        {podtemplate.ALLOWED_FIELDS_ENV: " runtimeClassName, hostAliases "}
    )
    assert allowed == {"runtimeClassName", "hostAliases"}
    assert resolve_pool("team-a", pool_spec(template=template), QUEUES, allowed).ok
    # Never-allowed fields stay refused whatever the admin allowed.
    hostile = {"image": "img:1", "podTemplate": {"spec": {"serviceAccountName": "admin"}}}
    assert not resolve_pool("team-a", pool_spec(template=hostile), QUEUES, allowed).ok
    with pytest.raises(ValueError, match="serviceAccountName cannot be allowed"):
        podtemplate.allowed_fields_from_env({podtemplate.ALLOWED_FIELDS_ENV: "serviceAccountName"})
