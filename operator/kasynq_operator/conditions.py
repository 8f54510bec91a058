"""Kubernetes-style status conditions, updated without touching unchanged transition times."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

Condition = dict[str, Any]


def utc_now() -> str:
    """RFC 3339 time in UTC with second precision, as Kubernetes writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(
    conditions: Sequence[Condition] | None,
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None = None,
) -> list[Condition]:
    """`conditions` with `type_` set; lastTransitionTime moves only when the status flips."""
    current = {c["type"]: dict(c) for c in conditions or []}
    previous = current.get(type_)
    text = "True" if status else "False"
    since = utc_now()
    if previous is not None and previous.get("status") == text:
        since = previous.get("lastTransitionTime", since)
    condition: Condition = {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }
    if generation is not None:
        condition["observedGeneration"] = generation
    current[type_] = condition
    return list(current.values())


def condition_status(conditions: Sequence[Condition] | None, type_: str) -> str | None:
    """ "True", "False", "Unknown" or None when the condition is absent."""
    for condition in conditions or []:
        if condition.get("type") == type_:
            return str(condition.get("status"))
    return None
