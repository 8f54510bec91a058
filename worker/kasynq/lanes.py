"""Priority lanes: one asynq queue per level, drained strictly in order (wire-protocol.md §15).

A task enqueued with `priority="high"` goes to the queue `<queue>.high`, `"low"` to
`<queue>.low`, `"default"` to `<queue>` itself: ordinary asynq queues, so Go's Inspector and
workers see nothing new. A server with `lanes=True` serves each configured queue with its
lanes, trying them high → default → low whenever queue selection picks that queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

LEVELS = ("high", "default", "low")
"""The priority levels, highest first."""
DEFAULT_LEVEL = "default"
_SUFFIXES = {"high": ".high", "default": "", "low": ".low"}


def checked_priority(name: str, value: object) -> str:
    """`value` if it is one of `LEVELS`, else `ValueError` naming the field and value."""
    if not isinstance(value, str) or value not in _SUFFIXES:
        raise ValueError(f"{name} must be one of {', '.join(LEVELS)}: {name}={value!r}")
    return value


def lane_queue(queue: str, priority: str) -> str:
    """The queue a task of `priority` enqueued to `queue` lives in."""
    if priority != DEFAULT_LEVEL and lane_of(queue) is not None:
        raise ValueError(
            f"queue is itself a lane, it cannot have lanes: queue={queue!r} priority={priority!r}"
        )
    return queue + _SUFFIXES[priority]


def lanes_of(queue: str) -> list[str]:
    """`queue`'s lane queues, highest first."""
    return [queue + _SUFFIXES[level] for level in LEVELS]


def lane_of(name: str) -> tuple[str, str] | None:
    """(queue, level) when `name` is a non-default lane queue, else None."""
    for level in ("high", "low"):
        suffix = _SUFFIXES[level]
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix), level
    return None


def with_lanes(queues: Mapping[str, int]) -> dict[str, int]:
    """Every configured queue and its lanes, each lane with its queue's weight."""
    return {lane: weight for queue, weight in queues.items() for lane in lanes_of(queue)}


def lane_order(order: Callable[[], list[str]]) -> Callable[[], list[str]]:
    """Queue selection over configured queues, each pick expanded into its lanes in order."""
    return lambda: [lane for queue in order() for lane in lanes_of(queue)]


def lane_groups(names: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """Queue names grouped by the queue whose lanes they are, in name order, each group's
    `(name, level)` highest first; a queue without lanes is a group of itself at level ""."""
    groups: dict[str, dict[str, str]] = {}
    for name in names:
        base, level = lane_of(name) or (name, DEFAULT_LEVEL)
        groups.setdefault(base, {})[level] = name
    return {
        base: (
            [(members[level], level) for level in LEVELS if level in members]
            if set(members) != {DEFAULT_LEVEL}
            else [(members[DEFAULT_LEVEL], "")]
        )
        for base, members in sorted(groups.items())
    }
