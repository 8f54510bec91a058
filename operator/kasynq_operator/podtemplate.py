"""Bounds of what a tenant may set in a pool's `spec.template` (env and podTemplate).

Three kinds of pod spec fields: ALLOWED_SPEC pass always; ADMIN_ALLOWABLE_SPEC are refused
unless a cluster admin lists them in `KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS` (chart value
`workerPodTemplate.allowedFields`); every other field is never allowed. The CRD refuses the
never-allowed ones at apply time (crds/asynqworkerpool.yaml, `x-kubernetes-validations`);
CEL cannot read the admin's setting, so the admin-allowable ones are refused at apply time
by the operator's webhook and, like everything here, when the operator renders the
Deployment (pools stored under an older CRD or admitted while the webhook was down). Never
allowed: whatever widens a pod's rights or changes what it consumes or who it is (command,
args, queues, security context, ServiceAccount and token, host namespaces, host volumes,
hostname, grace period).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FIELD = "spec.template.podTemplate"
ALLOWED_TOP = frozenset({"metadata", "spec"})
ALLOWED_METADATA = frozenset({"labels", "annotations"})
ALLOWED_SPEC = frozenset(
    {
        "affinity",
        "dnsConfig",
        "imagePullSecrets",
        "nodeSelector",
        "priorityClassName",
        "tolerations",
        "topologySpreadConstraints",
        "volumes",
    }
)
# Scheduling, DNS and runtime choices a shared cluster may want to keep from tenants, but
# that neither give a pod more rights nor touch the operator's container.
ADMIN_ALLOWABLE_SPEC = frozenset(
    {
        "dnsPolicy",
        "enableServiceLinks",
        "hostAliases",
        "os",
        "preemptionPolicy",
        "readinessGates",
        "resourceClaims",
        "resources",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "shareProcessNamespace",
    }
)
ALLOWED_FIELDS_ENV = "KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS"
SAFE_VOLUME_KINDS = ("configMap", "secret", "emptyDir", "downwardAPI", "persistentVolumeClaim")
OPERATOR_VOLUMES = frozenset({"config", "redis-ca"})
OPERATOR_KEY_PREFIXES = ("kasynq.io/", "app.kubernetes.io/")
OPERATOR_ENV_PREFIX = "KASYNQ_"
OPERATOR_ENV_NAMES = frozenset({"HOSTNAME"})


def _metadata_problems(metadata: Mapping[str, Any]) -> list[str]:
    problems = [
        f"{FIELD}.metadata.{key} is not allowed: only labels and annotations"
        for key in sorted(set(metadata) - ALLOWED_METADATA)
    ]
    for kind in sorted(ALLOWED_METADATA & set(metadata)):
        problems += [
            f"{FIELD}.metadata.{kind}[{key}]: keys under kasynq.io/ and app.kubernetes.io/"
            " are set by the operator"
            for key in sorted(metadata[kind] or {})
            if key.startswith(OPERATOR_KEY_PREFIXES)
        ]
    return problems


def _volume_problems(volumes: list[Mapping[str, Any]]) -> list[str]:
    problems: list[str] = []
    for index, volume in enumerate(volumes):
        where = f"{FIELD}.spec.volumes[{index}]"
        kinds = set(volume) - {"name"}
        if len(kinds) != 1 or not kinds <= set(SAFE_VOLUME_KINDS):
            problems.append(
                f"{where}: must set exactly one of {', '.join(SAFE_VOLUME_KINDS)}"
                f" (got {', '.join(sorted(kinds)) or 'none'})"
            )
        if volume.get("name") in OPERATOR_VOLUMES:
            problems.append(f"{where}.name: {volume['name']!r} is the operator's volume")
    return problems


def allowed_fields_from_env(environ: Mapping[str, str]) -> frozenset[str]:
    """The admin-allowable pod spec fields the cluster admin allowed (comma-separated in
    `KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS`); ValueError naming any other field."""
    value = environ.get(ALLOWED_FIELDS_ENV, "")
    fields = frozenset(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(fields - ADMIN_ALLOWABLE_SPEC)
    if unknown:
        raise ValueError(
            f"{ALLOWED_FIELDS_ENV}={value!r}: {', '.join(unknown)} cannot be allowed;"
            f" allowable: {', '.join(sorted(ADMIN_ALLOWABLE_SPEC))}"
        )
    return fields


def _spec_problems(pod_spec: Mapping[str, Any], allowed: frozenset[str]) -> list[str]:
    problems = []
    for key in sorted(set(pod_spec) - ALLOWED_SPEC - allowed):
        if key in ADMIN_ALLOWABLE_SPEC:
            problems.append(
                f"{FIELD}.spec.{key} is not allowed in this cluster (a cluster admin can allow"
                f" it: {ALLOWED_FIELDS_ENV}, chart value workerPodTemplate.allowedFields)"
            )
        else:
            problems.append(f"{FIELD}.spec.{key} is set by the operator and cannot be overridden")
    return problems


def template_problems(
    template: Mapping[str, Any], allowed: frozenset[str] = frozenset()
) -> list[str]:
    """Why a pool's `spec.template` leaves the bounds, one message per field (empty: fine);
    `allowed`: the admin-allowable fields the cluster admin allowed."""
    problems = [
        f"spec.template.env[{index}].name: {entry.get('name')!r} is set by the operator"
        for index, entry in enumerate(template.get("env") or [])
        if str(entry.get("name", "")).startswith(OPERATOR_ENV_PREFIX)
        or entry.get("name") in OPERATOR_ENV_NAMES
    ]
    pod_template = template.get("podTemplate") or {}
    problems += [
        f"{FIELD}.{key} is not allowed: only metadata and spec"
        for key in sorted(set(pod_template) - ALLOWED_TOP)
    ]
    problems += _metadata_problems(pod_template.get("metadata") or {})
    pod_spec = pod_template.get("spec") or {}
    problems += _spec_problems(pod_spec, allowed)
    problems += _volume_problems(pod_spec.get("volumes") or [])
    return problems
