"""Every Redis key name of asynq v0.26.0 (wire-protocol.md §2), named after Go's internal/base.

All per-queue keys share the hash tag `{<queue>}` so one Lua script can touch them in Redis
Cluster. Queue names are used exactly as given: no trimming, no escaping.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, date, datetime

DEFAULT_QUEUE = "default"

ALL_SERVERS = "asynq:servers"
ALL_WORKERS = "asynq:workers"
ALL_SCHEDULERS = "asynq:schedulers"
ALL_QUEUES = "asynq:queues"
CANCEL_CHANNEL = "asynq:cancel"


def prefixed_queue(prefix: str, queue: str) -> str:
    """The Redis name of `queue` under the tenant prefix `prefix`: `<prefix>:<queue>`, as the
    operator names the queues of namespace `<prefix>`; `queue` itself when `prefix` is empty."""
    return f"{prefix}:{queue}" if prefix else queue


def checked_queue_prefix(prefix: str) -> str:
    """`prefix` if usable as a tenant prefix (no braces: they would change the hash tag; no
    trailing `:`, which `prefixed_queue` adds), else `ValueError` naming it."""
    if "{" in prefix or "}" in prefix or prefix.endswith(":") or prefix != prefix.strip():
        raise ValueError(
            "queue_prefix must have no braces, no surrounding blanks and no trailing ':' "
            f"(one is added): queue_prefix={prefix!r}"
        )
    return prefix


def queue_key_prefix(queue: str) -> str:
    return f"asynq:{{{queue}}}:"


def task_key_prefix(queue: str) -> str:
    return f"{queue_key_prefix(queue)}t:"


def task_key(queue: str, task_id: str) -> str:
    return f"{task_key_prefix(queue)}{task_id}"


def pending_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}pending"


def active_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}active"


def scheduled_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}scheduled"


def retry_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}retry"


def archived_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}archived"


def lease_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}lease"


def completed_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}completed"


def paused_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}paused"


def processed_total_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}processed"


def failed_total_key(queue: str) -> str:
    return f"{queue_key_prefix(queue)}failed"


def utc_date(day: date) -> str:
    """`YYYY-MM-DD` of `day` in UTC; naive datetimes are taken as UTC, as Go's `t.UTC()`."""
    if isinstance(day, datetime):
        day = (day.astimezone(UTC) if day.tzinfo is not None else day).date()
    return _date_text(day)


@functools.lru_cache(maxsize=8)
def _date_text(day: date) -> str:
    return day.strftime("%Y-%m-%d")  # cached: every processed task names today's counter


def processed_key(queue: str, day: date) -> str:
    """Daily processed counter for the UTC date of `day`."""
    return f"{queue_key_prefix(queue)}processed:{utc_date(day)}"


def failed_key(queue: str, day: date) -> str:
    """Daily failed counter for the UTC date of `day`."""
    return f"{queue_key_prefix(queue)}failed:{utc_date(day)}"


def unique_key(queue: str, task_type: str, payload: bytes | None) -> str:
    """Unique-lock key: MD5 hex of the payload; `None` gives an empty checksum as Go's nil."""
    checksum = "" if payload is None else hashlib.md5(payload, usedforsecurity=False).hexdigest()
    return f"{queue_key_prefix(queue)}unique:{task_type}:{checksum}"


def group_key_prefix(queue: str) -> str:
    return f"{queue_key_prefix(queue)}g:"


def group_key(queue: str, group: str) -> str:
    return f"{group_key_prefix(queue)}{group}"


def aggregation_set_key(queue: str, group: str, set_id: str) -> str:
    return f"{group_key(queue, group)}:{set_id}"


def all_groups(queue: str) -> str:
    return f"{queue_key_prefix(queue)}groups"


def all_aggregation_sets(queue: str) -> str:
    return f"{queue_key_prefix(queue)}aggregation_sets"


def server_info_key(host: str, pid: int, server_id: str) -> str:
    return f"asynq:servers:{{{host}:{pid}:{server_id}}}"


def workers_key(host: str, pid: int, server_id: str) -> str:
    return f"asynq:workers:{{{host}:{pid}:{server_id}}}"


def busy_key(host: str, pid: int | str, server_id: str) -> str:
    """kasynq only: a server's in-flight task count, rewritten when it changes
    (docs/wire-protocol.md §12.11); same hash slot as its workers key."""
    return f"kasynq:busy:{{{host}:{pid}:{server_id}}}"


def scheduler_entries_key(scheduler_id: str) -> str:
    return f"asynq:schedulers:{{{scheduler_id}}}"


def scheduler_history_key(entry_id: str) -> str:
    """History of one scheduler entry; note: no hash tag, as in Go."""
    return f"asynq:scheduler_history:{entry_id}"


def semaphore_key(scope: str) -> str:
    """Key of the optional x/rate semaphore (wire-protocol.md §2.7)."""
    return f"asynq:sema:{scope}"


def rate_key(scope: str) -> str:
    """kasynq: the next start slot of a rate-limited registration (wire-protocol.md §16)."""
    return f"kasynq:rate:{{{scope}}}"


def scheduler_leader_key(group: str) -> str:
    """kasynq: the leader lock of a scheduler group (value = the leader's scheduler ID)."""
    return f"kasynq:scheduler:{{{group}}}:leader"


def scheduler_token_key(group: str) -> str:
    """kasynq: the group's fencing-token counter, in the lock's slot (INCR per acquisition)."""
    return f"kasynq:scheduler:{{{group}}}:token"


def scheduler_ticks_key(queue: str, group: str) -> str:
    """kasynq: a group's fence and last fired tick per entry, in the queue's slot."""
    return f"kasynq:{{{queue}}}:scheduler:{group}"


def wait_key(queue: str, task_id: str) -> str:
    """kasynq: what a waiting task waits for (wire-protocol.md §13.3), in its queue's slot."""
    return f"kasynq:{{{queue}}}:wait:{task_id}"


def dependants_key(queue: str, task_id: str) -> str:
    """kasynq: refs of the tasks waiting for a task (§13.3)."""
    return f"kasynq:{{{queue}}}:dependants:{task_id}"


def dependency_key_prefix(queue: str) -> str:
    return f"kasynq:{{{queue}}}:dependency:"


def dependency_key(queue: str, task_id: str) -> str:
    """kasynq: a dependency's `unretained` flag and settled `outcome` (§13.3)."""
    return f"{dependency_key_prefix(queue)}{task_id}"


def depended_key(queue: str) -> str:
    """kasynq: IDs of a queue's tasks that have unreleased dependants (§13.3)."""
    return f"kasynq:{{{queue}}}:depended"


def parse_task_key(ref: str) -> tuple[str, str]:
    """(queue, task ID) of a task key `asynq:{<q>}:t:<id>`, the refs of §13.1; queue names hold
    no braces (§1.4), so the first `}` ends the queue. ValueError naming `ref` otherwise."""
    head, brace, rest = ref.removeprefix("asynq:{").partition("}:t:")
    if not brace or not ref.startswith("asynq:{") or "}" in head or not rest:
        raise ValueError(f"not a task key: ref={ref!r}")
    return head, rest


SHARED_INDEX_KEYS = (ALL_QUEUES, ALL_SERVERS, ALL_WORKERS, ALL_SCHEDULERS)
"""Keys every asynq process reads and writes whatever its queues (wire-protocol.md §2.1)."""

PROCESS_KEY_PATTERNS = (
    "asynq:servers:{*}",
    "asynq:workers:{*}",
    scheduler_entries_key("*"),
    scheduler_history_key("*"),
    busy_key("*", "*", "*"),
)
"""Per-process keys, named by host, pid and ID rather than by queue: a process writes its
own; only inspectors read them (they hold other processes' in-flight task payloads)."""


def tenant_key_patterns(queue_prefix: str, scheduler_group_prefix: str) -> tuple[str, ...]:
    """Redis glob patterns of every key of the queues named `<queue_prefix>...` and of the
    kasynq scheduler groups named `<scheduler_group_prefix>...` (for Redis ACL users).

    Key names are used as written (no escaping), so the prefixes must hold none of `*?[]\\`.
    """
    if any(char in queue_prefix + scheduler_group_prefix for char in "*?[]\\"):
        raise ValueError(f"glob characters in a tenant prefix: {queue_prefix!r}")
    return (
        queue_key_prefix(f"{queue_prefix}*") + "*",
        scheduler_ticks_key(f"{queue_prefix}*", "*"),
        depended_key(f"{queue_prefix}*"),
        wait_key(f"{queue_prefix}*", "*"),
        dependants_key(f"{queue_prefix}*", "*"),
        dependency_key(f"{queue_prefix}*", "*"),
        scheduler_leader_key(f"{scheduler_group_prefix}*").removesuffix(":leader") + ":*",
    )
