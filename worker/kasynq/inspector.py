"""Inspector: read and change queues, tasks, servers and schedulers (Go's asynq.Inspector).

`AsyncInspector` (asyncio) and `Inspector` (blocking) offer Go's Inspector operations under
snake_case names, with Go's semantics (wire-protocol.md §10): the same pagination, orderings,
result codes and errors, on the same Redis a Go Inspector would read. All Redis access is in
`kasynq.broker.inspect`.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import redis
import redis.cluster
from google.protobuf.timestamp_pb2 import Timestamp

from kasynq import keys
from kasynq.broker.core import Broker
from kasynq.broker.inspect import (
    CURRENT_STATS_OP,
    ClusterNode,
    DailyStats,
    GroupInfo,
    InspectBroker,
    Overview,
    Pagination,
    QueueInfo,
    TaskRecord,
)
from kasynq.connection import AsyncRedis, RedisConstructors, async_twin
from kasynq.dependencies import Edge, TaskLinks, links_plan, run_plan, wait_plan
from kasynq.errors import FailedPreconditionError, QueueNotFoundError
from kasynq.facade import AsyncFacade, BlockingFacade
from kasynq.goformat import DurationError, parse_go_duration
from kasynq.proto import asynq_pb2
from kasynq.task import TaskInfo, TaskState

__all__ = [
    "AsyncInspector",
    "ClusterNode",
    "DailyStats",
    "GroupInfo",
    "Inspector",
    "Overview",
    "QueueInfo",
    "SchedulerEnqueueEvent",
    "SchedulerEntry",
    "ServerInfo",
    "WorkerInfo",
]

DEFAULT_PAGE_SIZE = 30
DEFAULT_PAGE = 1
DEPENDANTS_SHOWN = 100
"""Most dependants `task_links` returns by default (a fan-out may have thousands)."""
GO_ZERO_TIME_SECONDS = -62135596800
"""`Timestamp.seconds` of Go's zero time (0001-01-01T00:00:00Z), written for "never"."""


@dataclass(frozen=True)
class WorkerInfo:
    """A task in flight on a server (Go's WorkerInfo)."""

    task_id: str
    task_type: str
    task_payload: bytes
    queue: str
    started: datetime | None
    deadline: datetime | None


@dataclass(frozen=True)
class ServerInfo:
    """A live worker server and its in-flight tasks (Go's ServerInfo)."""

    id: str
    host: str
    pid: int
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    started: datetime | None
    status: str
    active_workers: list[WorkerInfo] = field(default_factory=list)


@dataclass(frozen=True)
class SchedulerEntry:
    """A periodic task registered with a live scheduler (Go's SchedulerEntry).

    `options` holds the entry's option strings that Go's Inspector parses back (Queue,
    MaxRetry, Timeout, Deadline, Unique, ProcessAt, ProcessIn, Retention); others are dropped
    as in Go. `prev` is None when the entry never fired.
    """

    id: str
    spec: str
    task_type: str
    task_payload: bytes
    options: tuple[str, ...]
    next: datetime | None
    prev: datetime | None


@dataclass(frozen=True)
class SchedulerEnqueueEvent:
    """One enqueue by a scheduler entry (Go's SchedulerEnqueueEvent)."""

    task_id: str
    enqueued_at: datetime | None


def validate_queue_name(queue: str) -> None:
    """Go's base.ValidateQueueName: the name must not be blank."""
    if not queue.strip():
        raise ValueError(f"queue name must contain one or more characters: queue={queue!r}")


def pagination(page_size: int, page: int) -> Pagination:
    """Go's PageSize/Page options: negative size counts as 0, negative page as 1; 1-based."""
    return Pagination(size=max(page_size, 0), page=(1 if page < 0 else page) - 1)


def timestamp_to_datetime(timestamp: Timestamp) -> datetime | None:
    """An aware UTC datetime, or None for Go's zero time ("never")."""
    if timestamp.seconds == GO_ZERO_TIME_SECONDS and timestamp.nanos == 0:
        return None
    return timestamp.ToDatetime(tzinfo=UTC)


_GO_QUOTED = re.compile(
    r'"(?:[^"\\\n]|\\(?:[abfnrtv\\\'"]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}))*"'
    r"|`[^`]*`"
)
_GO_INT = re.compile(r"[-+]?\d{1,19}")
_GO_UNIX_DATE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<date>(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"  ?\d{1,2} \d{1,2}:\d\d:\d\d) (?:[A-Z]{3}|[A-Z]{3,4}T|WITA|ChST|MeST|GMT[-+]\d{1,2})"
    r" (?P<year>\d{4})"
)


def _is_go_duration(text: str) -> bool:
    try:
        parse_go_duration(text)
    except DurationError:
        return False
    return True


def _is_go_unix_date(text: str) -> bool:
    """Whether Go's `time.Parse(time.UnixDate, text)` accepts `text` (real calendar dates)."""
    match = _GO_UNIX_DATE.fullmatch(text)
    if match is None:
        return False
    try:
        datetime.strptime(
            f"{match['date'].replace('  ', ' ')} {match['year']}", "%b %d %H:%M:%S %Y"
        )
    except ValueError:
        return False
    return True


_OPTION_ARGUMENT_CHECKS: dict[str, Callable[[str], bool]] = {
    "Queue": lambda arg: _GO_QUOTED.fullmatch(arg) is not None,
    "MaxRetry": lambda arg: _GO_INT.fullmatch(arg) is not None,
    "Timeout": _is_go_duration,
    "Deadline": _is_go_unix_date,
    "Unique": _is_go_duration,
    "ProcessAt": _is_go_unix_date,
    "ProcessIn": _is_go_duration,
    "Retention": _is_go_duration,
}


def go_parses_option(option: str) -> bool:
    """Whether Go's Inspector keeps this scheduler option string (its `parseOption`).

    Go takes the name before the first `(` and the argument up to the first `)`.
    """
    name, paren, rest = option.partition("(")
    if not paren or name not in _OPTION_ARGUMENT_CHECKS:
        return False
    argument, closing, _ = rest.partition(")")
    return _OPTION_ARGUMENT_CHECKS[name](argument if closing else "")


def _worker_info(worker: asynq_pb2.WorkerInfo) -> WorkerInfo:
    return WorkerInfo(
        task_id=worker.task_id,
        task_type=worker.task_type,
        task_payload=worker.task_payload,
        queue=worker.queue,
        started=timestamp_to_datetime(worker.start_time),
        deadline=timestamp_to_datetime(worker.deadline),
    )


def _server_info(server: asynq_pb2.ServerInfo) -> ServerInfo:
    return ServerInfo(
        id=server.server_id,
        host=server.host,
        pid=server.pid,
        concurrency=server.concurrency,
        queues=dict(server.queues),
        strict_priority=server.strict_priority,
        started=timestamp_to_datetime(server.start_time),
        status=server.status,
    )


def _scheduler_entry(entry: asynq_pb2.SchedulerEntry) -> SchedulerEntry:
    return SchedulerEntry(
        id=entry.id,
        spec=entry.spec,
        task_type=entry.task_type,
        task_payload=entry.task_payload,
        options=tuple(option for option in entry.enqueue_options if go_parses_option(option)),
        next=timestamp_to_datetime(entry.next_enqueue_time),
        prev=timestamp_to_datetime(entry.prev_enqueue_time),
    )


def _task_info(record: TaskRecord, *, is_orphaned: bool = False) -> TaskInfo:
    try:
        state = TaskState(record.state)
    except ValueError:
        raise FailedPreconditionError(
            "GetTaskInfo", f'"{record.state}" is not supported task state'
        ) from None
    return TaskInfo.from_message(
        record.message,
        state,
        next_process_at=record.next_process_at,
        result=record.result,
        is_orphaned=is_orphaned,
    )


class AsyncInspector(AsyncFacade, RedisConstructors):
    """Inspect and change asynq queues on one Redis (asyncio). Create with a client or `from_*`."""

    def __init__(
        self,
        client: AsyncRedis,
        *,
        clock: Callable[[], int] | None = None,
        owns_client: bool = False,
        queue_prefix: str = "",
    ) -> None:
        """Use `client` (bytes replies); `owns_client` closes it on `close()`; `clock` = Unix ns.

        With `queue_prefix`, queue arguments name queues under `<queue_prefix>:` (the
        operator's `<namespace>:`) and `queues()` lists those only, without the prefix;
        results (`QueueInfo.queue`, `TaskInfo.queue`) carry the full Redis names.
        """
        super().__init__(Broker(client, clock=clock), owns_client=owns_client)
        self._inspect = InspectBroker(client, clock=clock)
        self._queue_prefix = keys.checked_queue_prefix(queue_prefix)

    @classmethod
    def owning(cls, client: AsyncRedis, *, queue_prefix: str = "") -> Self:
        return cls(client, owns_client=True, queue_prefix=queue_prefix)

    def _redis_name(self, queue: str) -> str:
        """The Redis name of an argument `queue` (a blank one is left to the validation)."""
        return keys.prefixed_queue(self._queue_prefix, queue) if queue.strip() else queue

    async def _known_queues(self) -> list[str]:
        """Redis names of the queues this inspector sees (all, or those under its prefix)."""
        names = await self._inspect.all_queues()
        if not self._queue_prefix:
            return names
        head = keys.prefixed_queue(self._queue_prefix, "")
        return [name for name in names if name.startswith(head) and len(name) > len(head)]

    # -- queues -------------------------------------------------------------------------------

    async def queues(self) -> list[str]:
        """Names of all queues (sorted; Go returns Redis' set order), without the prefix."""
        head = len(keys.prefixed_queue(self._queue_prefix, ""))
        return [name[head:] for name in await self._known_queues()]

    async def groups(self, queue: str) -> list[GroupInfo]:
        """Groups of a queue with their sizes."""
        return await self._inspect.group_stats(queue)

    async def get_queue_info(self, queue: str) -> QueueInfo:
        """Current counts, counters, latency and memory usage of a queue."""
        validate_queue_name(queue)
        return await self._inspect.current_stats(queue)

    async def get_queue_infos(self, queues: Sequence[str] | None = None) -> list[QueueInfo]:
        """`get_queue_info` of several queues (default: all) in one pipelined round trip.

        Named queues must exist (`QueueNotFoundError` otherwise); the existence check reads
        `asynq:queues` once for all of them.
        """
        known = await self._known_queues()
        if queues is None:
            return await self._inspect.queue_infos(known)
        named = [self._redis_name(queue) for queue in queues]
        for queue in named:
            validate_queue_name(queue)
            if queue not in known:
                raise QueueNotFoundError(CURRENT_STATS_OP, queue)
        return await self._inspect.queue_infos(named)

    async def overview(self, previous: Sequence[str] = ()) -> Overview:
        """Every queue's `QueueInfo` and the number of live servers, for a dashboard.

        One pipelined round trip while the queues are still those of `previous` (the
        `QueueInfo.queue` names of the last overview); queues new since cost one more. With
        a queue prefix, only the queues under it are returned.
        """
        result = await self._inspect.overview(previous)
        if not self._queue_prefix:
            return result
        head = keys.prefixed_queue(self._queue_prefix, "")
        mine = [info for info in result.queues if info.queue.startswith(head)]
        return Overview([info for info in mine if len(info.queue) > len(head)], result.servers)

    async def history(self, queue: str, days: int) -> list[DailyStats]:
        """Processed/failed counts of the last `days` UTC days, newest first."""
        validate_queue_name(queue)
        return await self._inspect.historical_stats(queue, days)

    async def delete_queue(self, queue: str, *, force: bool = False) -> None:
        """Remove a queue: only if empty, or with `force` unless tasks are active."""
        await self._inspect.remove_queue(queue, force=force)

    async def pause_queue(self, queue: str) -> None:
        validate_queue_name(queue)
        await self._inspect.pause(queue)

    async def unpause_queue(self, queue: str) -> None:
        validate_queue_name(queue)
        await self._inspect.unpause(queue)

    # -- reading tasks ------------------------------------------------------------------------

    async def get_task_info(self, queue: str, task_id: str) -> TaskInfo:
        validate_queue_name(queue)
        return _task_info(await self._inspect.get_task_info(queue, task_id))

    async def task_dependencies(self, queue: str, task_id: str) -> list[Edge]:
        """What a task waits (or waited, for an hour after its release) for, in the order
        given: each dependency's queue, ID and state (`waiting` or its outcome);
        [] for a task without dependencies (wire-protocol.md §13.3)."""
        validate_queue_name(queue)
        _, edges = await run_plan(self._broker.client, wait_plan(keys.task_key(queue, task_id)))
        return edges

    async def task_links(
        self, queue: str, task_id: str, *, dependants_limit: int = DEPENDANTS_SHOWN
    ) -> TaskLinks:
        """`task_dependencies` and the tasks waiting for this one (up to `dependants_limit`
        of them, with their count) in one round trip (wire-protocol.md §13.3)."""
        validate_queue_name(queue)
        if dependants_limit < 1:
            raise ValueError(f"dependants_limit must be at least 1: {dependants_limit=}")
        plan = links_plan(keys.task_key(queue, task_id), dependants_limit)
        return await run_plan(self._broker.client, plan)

    async def list_pending_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Pending tasks, next to run first."""
        validate_queue_name(queue)
        records = await self._inspect.list_messages(queue, "pending", pagination(page_size, page))
        return [_task_info(record) for record in records]

    async def list_active_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Active tasks; `is_orphaned` marks those whose lease has expired."""
        validate_queue_name(queue)
        records = await self._inspect.list_messages(queue, "active", pagination(page_size, page))
        expired = await self._inspect.lease_expired_ids(queue)
        return [_task_info(record, is_orphaned=record.message.id in expired) for record in records]

    async def _list_zset(
        self, queue: str, state: str, zset_key: str, page_size: int, page: int
    ) -> list[TaskInfo]:
        validate_queue_name(queue)
        records = await self._inspect.list_zset_entries(
            queue, state, zset_key, pagination(page_size, page)
        )
        return [_task_info(record) for record in records]

    async def list_scheduled_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Scheduled tasks, earliest process time first."""
        return await self._list_zset(queue, "scheduled", keys.scheduled_key(queue), page_size, page)

    async def list_retry_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Tasks waiting for a retry, earliest retry first."""
        return await self._list_zset(queue, "retry", keys.retry_key(queue), page_size, page)

    async def list_archived_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Archived tasks, oldest archive time first."""
        return await self._list_zset(queue, "archived", keys.archived_key(queue), page_size, page)

    async def list_completed_tasks(
        self, queue: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[TaskInfo]:
        """Completed (retained) tasks, earliest expiry first."""
        return await self._list_zset(queue, "completed", keys.completed_key(queue), page_size, page)

    async def list_aggregating_tasks(
        self,
        queue: str,
        group: str,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        page: int = DEFAULT_PAGE,
    ) -> list[TaskInfo]:
        """Tasks of one aggregation group, oldest first."""
        return await self._list_zset(
            queue, "aggregating", keys.group_key(queue, group), page_size, page
        )

    # -- changing one task ----------------------------------------------------------------------

    async def run_task(self, queue: str, task_id: str) -> None:
        """Move a scheduled, retry, archived, completed or aggregating task to pending."""
        validate_queue_name(queue)
        await self._inspect.run_task(queue, task_id)

    async def archive_task(self, queue: str, task_id: str) -> None:
        """Archive a task that is not active and not archived yet."""
        validate_queue_name(queue)
        await self._inspect.archive_task(queue, task_id)

    async def delete_task(self, queue: str, task_id: str) -> None:
        """Delete a task that is not active, releasing its unique lock."""
        validate_queue_name(queue)
        await self._inspect.delete_task(queue, task_id)

    async def update_task_payload(self, queue: str, task_id: str, payload: bytes) -> None:
        """Replace the payload of a scheduled task."""
        validate_queue_name(queue)
        if not isinstance(payload, bytes):
            raise ValueError(f"payload must be bytes, got {type(payload).__name__}: task={task_id}")
        await self._inspect.update_task_payload(queue, task_id, payload)

    async def cancel_processing(self, task_id: str) -> None:
        """Ask the servers to cancel the running handler of a task (best effort)."""
        await self._broker.publish_cancellation(task_id)

    # -- changing all tasks of a state -----------------------------------------------------------

    async def run_all_scheduled_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.run_all(queue, keys.scheduled_key(queue))

    async def run_all_retry_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.run_all(queue, keys.retry_key(queue))

    async def run_all_archived_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.run_all(queue, keys.archived_key(queue))

    async def run_all_aggregating_tasks(self, queue: str, group: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.run_all(queue, keys.group_key(queue, group), group)

    async def archive_all_pending_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.archive_all(queue, keys.pending_key(queue))

    async def archive_all_scheduled_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.archive_all(queue, keys.scheduled_key(queue))

    async def archive_all_retry_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.archive_all(queue, keys.retry_key(queue))

    async def archive_all_aggregating_tasks(self, queue: str, group: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.archive_all(queue, keys.group_key(queue, group), group)

    async def delete_all_pending_tasks(self, queue: str) -> int:
        """Delete every pending task (unique locks are kept, as in Go)."""
        validate_queue_name(queue)
        return await self._inspect.delete_all_pending(queue)

    async def delete_all_scheduled_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.delete_all(queue, keys.scheduled_key(queue))

    async def delete_all_retry_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.delete_all(queue, keys.retry_key(queue))

    async def delete_all_archived_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.delete_all(queue, keys.archived_key(queue))

    async def delete_all_completed_tasks(self, queue: str) -> int:
        validate_queue_name(queue)
        return await self._inspect.delete_all(queue, keys.completed_key(queue))

    async def delete_all_aggregating_tasks(self, queue: str, group: str) -> int:
        """Delete every task of a group (unique locks are kept, as in Go)."""
        validate_queue_name(queue)
        return await self._inspect.delete_all_aggregating(queue, group)

    # -- servers and schedulers --------------------------------------------------------------

    async def redis_info(self) -> dict[str, str]:
        """Version, uptime, connected clients and memory use of the Redis server."""
        return await self._inspect.redis_info()

    async def servers(self) -> list[ServerInfo]:
        """Live servers with their in-flight tasks; workers of unknown servers are dropped."""
        servers = {
            server.server_id: _server_info(server) for server in await self._inspect.list_servers()
        }
        for worker in await self._inspect.list_workers():
            if worker.server_id in servers:
                servers[worker.server_id].active_workers.append(_worker_info(worker))
        return list(servers.values())

    async def scheduler_entries(self) -> list[SchedulerEntry]:
        """Entries of every live scheduler."""
        return [_scheduler_entry(entry) for entry in await self._inspect.list_scheduler_entries()]

    async def list_scheduler_enqueue_events(
        self, entry_id: str, *, page_size: int = DEFAULT_PAGE_SIZE, page: int = DEFAULT_PAGE
    ) -> list[SchedulerEnqueueEvent]:
        """Enqueue history of one scheduler entry, newest first."""
        events = await self._inspect.list_scheduler_enqueue_events(
            entry_id, pagination(page_size, page)
        )
        return [
            SchedulerEnqueueEvent(event.task_id, timestamp_to_datetime(event.enqueue_time))
            for event in events
        ]

    # -- Redis Cluster ----------------------------------------------------------------------

    async def cluster_key_slot(self, queue: str) -> int:
        """Hash slot of the queue's keys (Redis Cluster only)."""
        return await self._inspect.cluster_key_slot(queue)

    async def cluster_nodes(self, queue: str) -> list[ClusterNode]:
        """Nodes serving the queue's slot, primary first (Redis Cluster only)."""
        return await self._inspect.cluster_nodes(queue)


def _queue_scoped(
    method: Callable[..., Coroutine[Any, Any, Any]],
) -> Callable[..., Coroutine[Any, Any, Any]]:
    """`method`, whose first argument is a queue name, under the inspector's queue prefix."""

    @functools.wraps(method)
    async def scoped(self: AsyncInspector, queue: str, *args: Any, **kwargs: Any) -> Any:
        return await method(self, self._redis_name(queue), *args, **kwargs)

    return scoped


for _name, _method in list(vars(AsyncInspector).items()):  # every method taking a `queue`
    if (
        not _name.startswith("_")
        and inspect.iscoroutinefunction(_method)
        and [*inspect.signature(_method).parameters][1:2] == ["queue"]
    ):
        setattr(AsyncInspector, _name, _queue_scoped(_method))


P = ParamSpec("P")
T = TypeVar("T")


def _blocking(
    method: Callable[Concatenate[AsyncInspector, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Inspector, P], T]:
    """The blocking form of an `AsyncInspector` method, run on the inspector's loop thread."""

    def run(self: Inspector, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._loop.run(method(self._async, *args, **kwargs))

    run.__name__ = method.__name__
    run.__qualname__ = f"Inspector.{method.__name__}"
    run.__doc__ = f"Blocking `AsyncInspector.{method.__name__}`. {method.__doc__ or ''}".strip()
    return run


class Inspector(BlockingFacade[AsyncInspector], RedisConstructors):
    """Blocking `AsyncInspector` (scripts, Django, Flask); thread-safe.

    Runs an `AsyncInspector` on a private event-loop thread; every method has the same
    arguments, result and errors as its async twin.
    """

    def __init__(
        self,
        client: redis.Redis | redis.cluster.RedisCluster | AsyncRedis,
        *,
        clock: Callable[[], int] | None = None,
        owns_client: bool = False,
        queue_prefix: str = "",
    ) -> None:
        """Use `client`: a blocking one is mirrored by an asyncio twin (closed with us);
        `queue_prefix` as `AsyncInspector`'s."""
        if isinstance(client, redis.Redis | redis.cluster.RedisCluster):
            client, owns_client = async_twin(client), True
        twin = AsyncInspector(
            client, clock=clock, owns_client=owns_client, queue_prefix=queue_prefix
        )
        super().__init__("kasynq-inspector", twin)

    @classmethod
    def owning(cls, client: AsyncRedis, *, queue_prefix: str = "") -> Self:
        return cls(client, owns_client=True, queue_prefix=queue_prefix)

    queues = _blocking(AsyncInspector.queues)
    groups = _blocking(AsyncInspector.groups)
    get_queue_info = _blocking(AsyncInspector.get_queue_info)
    get_queue_infos = _blocking(AsyncInspector.get_queue_infos)
    history = _blocking(AsyncInspector.history)
    delete_queue = _blocking(AsyncInspector.delete_queue)
    pause_queue = _blocking(AsyncInspector.pause_queue)
    unpause_queue = _blocking(AsyncInspector.unpause_queue)
    get_task_info = _blocking(AsyncInspector.get_task_info)
    task_dependencies = _blocking(AsyncInspector.task_dependencies)
    task_links = _blocking(AsyncInspector.task_links)
    list_pending_tasks = _blocking(AsyncInspector.list_pending_tasks)
    list_active_tasks = _blocking(AsyncInspector.list_active_tasks)
    list_scheduled_tasks = _blocking(AsyncInspector.list_scheduled_tasks)
    list_retry_tasks = _blocking(AsyncInspector.list_retry_tasks)
    list_archived_tasks = _blocking(AsyncInspector.list_archived_tasks)
    list_completed_tasks = _blocking(AsyncInspector.list_completed_tasks)
    list_aggregating_tasks = _blocking(AsyncInspector.list_aggregating_tasks)
    run_task = _blocking(AsyncInspector.run_task)
    archive_task = _blocking(AsyncInspector.archive_task)
    delete_task = _blocking(AsyncInspector.delete_task)
    update_task_payload = _blocking(AsyncInspector.update_task_payload)
    cancel_processing = _blocking(AsyncInspector.cancel_processing)
    run_all_scheduled_tasks = _blocking(AsyncInspector.run_all_scheduled_tasks)
    run_all_retry_tasks = _blocking(AsyncInspector.run_all_retry_tasks)
    run_all_archived_tasks = _blocking(AsyncInspector.run_all_archived_tasks)
    run_all_aggregating_tasks = _blocking(AsyncInspector.run_all_aggregating_tasks)
    archive_all_pending_tasks = _blocking(AsyncInspector.archive_all_pending_tasks)
    archive_all_scheduled_tasks = _blocking(AsyncInspector.archive_all_scheduled_tasks)
    archive_all_retry_tasks = _blocking(AsyncInspector.archive_all_retry_tasks)
    archive_all_aggregating_tasks = _blocking(AsyncInspector.archive_all_aggregating_tasks)
    delete_all_pending_tasks = _blocking(AsyncInspector.delete_all_pending_tasks)
    delete_all_scheduled_tasks = _blocking(AsyncInspector.delete_all_scheduled_tasks)
    delete_all_retry_tasks = _blocking(AsyncInspector.delete_all_retry_tasks)
    delete_all_archived_tasks = _blocking(AsyncInspector.delete_all_archived_tasks)
    delete_all_completed_tasks = _blocking(AsyncInspector.delete_all_completed_tasks)
    delete_all_aggregating_tasks = _blocking(AsyncInspector.delete_all_aggregating_tasks)
    servers = _blocking(AsyncInspector.servers)
    redis_info = _blocking(AsyncInspector.redis_info)
    scheduler_entries = _blocking(AsyncInspector.scheduler_entries)
    list_scheduler_enqueue_events = _blocking(AsyncInspector.list_scheduler_enqueue_events)
    cluster_key_slot = _blocking(AsyncInspector.cluster_key_slot)
    cluster_nodes = _blocking(AsyncInspector.cluster_nodes)
