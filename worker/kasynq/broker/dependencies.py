"""Script calls of task dependencies (wire-protocol.md §13): KEYS and ARGV of each
`dependency_*.lua`, for the steps in `kasynq.dependencies` to pipeline.

Every call touches the slot of one task: the dependency's (state, link, settle, forget, scan)
or the dependant's (create, release), so they run on Redis Cluster as on one node.
"""

from __future__ import annotations

from collections.abc import Sequence

from kasynq import keys
from kasynq.broker.core import ARCHIVE_MAX_AGE_SECONDS, ARCHIVE_MAX_SIZE, NS_PER_SECOND
from kasynq.broker.scripts import ScriptArg, ScriptCall, load_script
from kasynq.proto.asynq_pb2 import TaskMessage

WAITING_SCORE = 7258118400
"""Score of a waiting task in `scheduled`: 2200-01-01 00:00:00 UTC, never due (§13.2)."""
DEPENDENCY_RETENTION_SECONDS = 3600
"""Minimum retention of a task others depend on, so its completion by Go is seen (§13.4)."""
RECORD_TTL_SECONDS = 3600
"""Life of the wait and dependency records once released (§13.3)."""
DEPENDANTS_HEADER = "kasynq-dependants"
"""Header of a task others depend on: its kasynq worker settles it at once (§13.6)."""
SCAN_BATCH_SIZE = 500

COMPLETED, ARCHIVED, DELETED = "completed", "archived", "deleted"
"""Outcomes of a settled dependency."""
POLICIES = ("archive", "run")
"""What a dependant does when a dependency is archived or deleted."""

_REGISTER_QUEUE = load_script("register_queue")
_CREATE = load_script("dependency_create")
_STATE = load_script("dependency_state")
_LINK = load_script("dependency_link")
_RELEASE = load_script("dependency_release")
_SETTLE = load_script("dependency_settle")
_FORGET = load_script("dependency_forget")
_SCAN = load_script("dependency_scan")
_WAIT_INFO = load_script("dependency_wait_info")
_DEPENDANTS = load_script("dependency_dependants")
_TASK_RESULT = load_script("task_result")


def mark_dependency(msg: TaskMessage) -> None:
    """Give `msg` what a task others depend on carries (§13.4), as `chain` and `group` do."""
    msg.retention = max(msg.retention, DEPENDENCY_RETENTION_SECONDS)
    msg.headers[DEPENDANTS_HEADER] = "1"


def has_dependants(msg: TaskMessage) -> bool:
    return DEPENDANTS_HEADER in msg.headers


def register_call(queue: str) -> ScriptCall:
    """Cluster: `asynq:queues` lives in another slot, so it is registered apart (§12.5)."""
    return _REGISTER_QUEUE.call([keys.ALL_QUEUES], [queue])


def create_call(
    msg: TaskMessage, refs: Sequence[str], policy: str, *, register: bool
) -> ScriptCall:
    """Create `msg` waiting for `refs` (§13.5 step 3); `register` adds the queue in the script."""
    queue, task_id = msg.queue, msg.id
    script_keys = [
        keys.task_key(queue, task_id),
        keys.scheduled_key(queue),
        keys.wait_key(queue, task_id),
    ]
    args: list[ScriptArg] = [msg.SerializeToString(), task_id, WAITING_SCORE, policy, *refs]
    if register:
        return _CREATE.call([*script_keys, keys.ALL_QUEUES], [*args, queue])
    return _CREATE.call(script_keys, args)


def state_call(ref: str) -> ScriptCall:
    """A dependency's recorded outcome, else its state, else nil (§13.5 step 2)."""
    queue, task_id = keys.parse_task_key(ref)
    return _STATE.call([ref, keys.dependency_key(queue, task_id)], [])


def link_call(dependant: str, dependency: str, now_ns: int) -> ScriptCall:
    """Link `dependant` to `dependency` in the dependency's slot (§13.5 step 4)."""
    queue, task_id = keys.parse_task_key(dependency)
    return _LINK.call(
        [
            dependency,
            keys.dependants_key(queue, task_id),
            keys.dependency_key(queue, task_id),
            keys.depended_key(queue),
        ],
        [
            dependant,
            now_ns // NS_PER_SECOND,
            DEPENDENCY_RETENTION_SECONDS,
            DEPENDANTS_HEADER,
            "1",
            task_id,
        ],
    )


def release_call(dependant: str, dependency: str, outcome: str, now_ns: int) -> ScriptCall:
    """Release the edge `dependant` → `dependency` settled as `outcome` (§13.6)."""
    queue, task_id = keys.parse_task_key(dependant)
    dependency_queue, dependency_id = keys.parse_task_key(dependency)
    now_s = now_ns // NS_PER_SECOND
    return _RELEASE.call(
        [
            keys.wait_key(queue, task_id),
            dependant,
            keys.scheduled_key(queue),
            keys.pending_key(queue),
            keys.archived_key(queue),
        ],
        [
            dependency,
            outcome,
            task_id,
            now_s,
            now_ns,
            WAITING_SCORE,
            f"dependency {dependency_id} in queue {dependency_queue} was {outcome}",
            now_s - ARCHIVE_MAX_AGE_SECONDS,
            RECORD_TTL_SECONDS,
            ARCHIVE_MAX_SIZE,
        ],
    )


def settle_call(ref: str) -> ScriptCall:
    """Record a dependency's outcome and list its dependants; {} while not final (§13.6)."""
    queue, task_id = keys.parse_task_key(ref)
    return _SETTLE.call(
        [ref, keys.dependants_key(queue, task_id), keys.dependency_key(queue, task_id)], []
    )


def forget_call(ref: str) -> ScriptCall:
    """Drop a settled dependency's dependants and work-list entry (§13.6)."""
    queue, task_id = keys.parse_task_key(ref)
    return _FORGET.call(
        [
            keys.dependants_key(queue, task_id),
            keys.dependency_key(queue, task_id),
            keys.depended_key(queue),
        ],
        [task_id, RECORD_TTL_SECONDS],
    )


def scan_call(queue: str, start: int) -> ScriptCall:
    """One batch of the releaser's walk over `depended` from rank `start` (§13.6)."""
    return _SCAN.call(
        [keys.depended_key(queue)],
        [
            keys.task_key_prefix(queue),
            keys.dependency_key_prefix(queue),
            start,
            SCAN_BATCH_SIZE,
            DEPENDENCY_RETENTION_SECONDS,
            DEPENDANTS_HEADER,
            "1",
        ],
    )


def wait_info_call(ref: str) -> ScriptCall:
    """The wait hash of the task `ref` as a flat field/value array (§13.3)."""
    queue, task_id = keys.parse_task_key(ref)
    return _WAIT_INFO.call([keys.wait_key(queue, task_id)], [])


def dependants_call(ref: str, limit: int) -> ScriptCall:
    """How many tasks wait for the task `ref`, and up to `limit` of their refs (§13.3)."""
    queue, task_id = keys.parse_task_key(ref)
    return _DEPENDANTS.call([keys.dependants_key(queue, task_id)], [limit])


def result_call(ref: str) -> ScriptCall:
    return _TASK_RESULT.call([ref], [])
