"""Status of our custom resources: conditions, and patches written only when they matter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kasynq_operator.kube import KubeApi

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


def _without_times(conditions: Sequence[Condition]) -> list[tuple[Any, ...]]:
    return [(c["type"], c["status"], c.get("reason"), c.get("message")) for c in conditions]


class StatusWriter:
    """Patches one custom resource's status, but only when it matters.

    Written at once when anything outside `volatile` keys (or a condition) changes or when
    forced; when only `detail(status)` changed, at most every `detail_seconds`; otherwise
    refreshed every `refresh_seconds` so sample times and rates do not go stale forever.
    """

    def __init__(
        self,
        kube: KubeApi,
        plural: str,
        namespace: str,
        name: str,
        volatile: frozenset[str],
        detail: Callable[[Mapping[str, Any]], Any] = lambda _: None,
        detail_seconds: float = 5.0,
        refresh_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube = kube
        self._target = (plural, namespace, name)
        self._volatile = volatile
        self._detail = detail
        self._detail_seconds = detail_seconds
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self.last: dict[str, Any] = {}
        self._written_at = float("-inf")

    @property
    def conditions(self) -> list[Condition]:
        return list(self.last.get("conditions", []))

    def _essence(self, status: Mapping[str, Any]) -> Any:
        rest = {k: v for k, v in status.items() if k not in self._volatile and k != "conditions"}
        return rest, _without_times(status.get("conditions", []))

    async def write(self, status: Mapping[str, Any], force: bool = False) -> None:
        merged = {**self.last, **status}
        age = self._clock() - self._written_at
        due = (
            force
            or age >= self._refresh_seconds
            or self._essence(merged) != self._essence(self.last)
            or (age >= self._detail_seconds and self._detail(merged) != self._detail(self.last))
        )
        if not due:
            return
        plural, namespace, name = self._target
        await asyncio.to_thread(self._kube.patch_status, plural, namespace, name, dict(status))
        self.last, self._written_at = merged, self._clock()
