"""Bounds of what a tenant may set in a pool's `spec.template` (env and podTemplate).

The CRD refuses the same things at apply time (crds/asynqworkerpool.yaml, `x-kubernetes-
validations`); this module is the operator's own check when it renders the Deployment, so
that pools stored before that CRD was installed (Helm does not upgrade CRDs) never reach a
pod with a field that widens its rights or changes what it consumes (command, args, queues,
security context, ServiceAccount, host namespaces, host volumes).
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


def template_problems(template: Mapping[str, Any]) -> list[str]:
    """Why a pool's `spec.template` leaves the bounds, one message per field (empty: fine)."""
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
    problems += [
        f"{FIELD}.spec.{key} is set by the operator and cannot be overridden"
        for key in sorted(set(pod_spec) - ALLOWED_SPEC)
    ]
    problems += _volume_problems(pod_spec.get("volumes") or [])
    return problems
