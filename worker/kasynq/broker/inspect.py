"""All Redis access of the Inspector (wire-protocol.md §10; Go's internal/rdb/inspect.go).

`InspectBroker` runs one Lua script per Go script, with the same KEYS and ARGV, so its reads
and mutations are indistinguishable from Go's on the same Redis. It returns raw records
(decoded protobuf messages, Unix times); `kasynq.inspector` turns them into the public types.
Queue-existence checks, error codes and result codes follow Go's RDB methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis.asyncio.cluster
from google.protobuf.message import DecodeError, Message
from redis.exceptions import ResponseError

from kasynq import keys
from kasynq.broker.core import (
    ARCHIVE_MAX_AGE_SECONDS,
    ARCHIVE_MAX_SIZE,
    NS_PER_SECOND,
    decode_task_message,
)
from kasynq.broker.scripts import ScriptArg, ScriptCall, load_script, run_pipelined
from kasynq.connection import AsyncRedis
from kasynq.errors import (
    BrokerError,
    FailedPreconditionError,
    QueueNotEmptyError,
    QueueNotFoundError,
    ScriptError,
    TaskNotFoundError,
)
from kasynq.proto import asynq_pb2

logger = logging.getLogger(__name__)

MEMORY_SAMPLE_SIZE = 20
"""Tasks sampled per list/zset by the memory-usage script (Go: taskSampleSize)."""
GROUP_SAMPLE_SIZE = 5
"""Groups sampled by the memory-usage script (Go: groupSampleSize)."""

Clock = Callable[[], int]
"""Wall clock in Unix nanoseconds (Go's `time.Now()`); injectable for tests."""


def datetime_from_ns(unix_ns: int) -> datetime:
    """Aware UTC datetime of a Unix-nanosecond instant, exact to the microsecond."""
    seconds, nanos = divmod(unix_ns, NS_PER_SECOND)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


@dataclass(frozen=True)
class Pagination:
    """Go's rdb.Pagination: `size` items per page, zero-based `page`."""

    size: int
    page: int

    @property
    def start(self) -> int:
        return self.size * self.page

    @property
    def stop(self) -> int:
        return self.size * self.page + self.size - 1


REDIS_INFO_FIELDS = (
    "redis_version",
    "uptime_in_days",
    "connected_clients",
    "used_memory_human",
    "used_memory_peak_human",
)
"""The Redis INFO fields the CLI shows, as Go's `asynq stats` does."""
CLUSTER_INFO_FIELDS = ("cluster_state", "cluster_known_nodes", "cluster_size")
"""The CLUSTER INFO fields shown for a Redis Cluster."""


@dataclass(frozen=True)
class QueueInfo:
    """State of one queue at `timestamp` (Go's QueueInfo, wire-protocol.md §10.1).

    `size` counts every state including completed; `processed`/`failed` are today's (UTC)
    counters; `memory_usage` is sampled, in bytes; `latency` is the age of the next task to run.
    """

    queue: str
    memory_usage: int
    latency: timedelta
    size: int
    groups: int
    pending: int
    active: int
    scheduled: int
    retry: int
    archived: int
    completed: int
    aggregating: int
    processed: int
    failed: int
    processed_total: int
    failed_total: int
    paused: bool
    timestamp: datetime


@dataclass(frozen=True)
class Overview:
    """Statistics of every queue (sorted by name) and the number of live servers."""

    queues: list[QueueInfo]
    servers: int


@dataclass(frozen=True)
class DailyStats:
    """Processed and failed counts of one UTC day (Go's DailyStats).

    `date` is "now minus n days" (time of day included), as in Go.
    """

    queue: str
    processed: int
    failed: int
    date: datetime


@dataclass(frozen=True)
class GroupInfo:
    """One aggregation group of a queue and its number of tasks (Go's GroupInfo)."""

    group: str
    size: int


@dataclass(frozen=True)
class ClusterNode:
    """A Redis Cluster node serving a queue's slot (Go's ClusterNode); Addr is host:port."""

    id: str
    addr: str


@dataclass(frozen=True)
class TaskRecord:
    """A task as the inspector scripts return it (Go's base.TaskInfo)."""

    message: asynq_pb2.TaskMessage
    state: str
    next_process_at: datetime | None
    result: bytes | None


def _as_bytes(value: object) -> bytes:
    """A Redis reply item as bytes (the client does not decode responses)."""
    return value if isinstance(value, bytes) else str(value).encode()


def _as_text(value: object) -> str:
    return _as_bytes(value).decode()


def _int_or_zero(value: object) -> int:
    """Go's lenient `cast.ToInt`: integers and integer strings as-is, anything else 0."""
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | str):
        try:
            return int(value)
        except ValueError:
            return 0
    return 0


M = TypeVar("M", bound=Message)


def _decode_each(message_type: type[M], items: Sequence[object], key: str) -> list[M]:
    """Decode every item of one Redis key; undecodable items are skipped, as Go does."""
    decoded = []
    for item in items:
        try:
            decoded.append(message_type.FromString(_as_bytes(item)))
        except DecodeError:
            logger.warning("skipping undecodable %s key=%s", message_type.__name__, key)
    return decoded


def _decode_task(encoded: bytes | None) -> asynq_pb2.TaskMessage | None:
    """Decode a stored message; a missing field decodes as an empty message, as in Go."""
    try:
        return decode_task_message(encoded or b"")
    except DecodeError:
        return None


CURRENT_STATS_OP = "rdb.CurrentStats"


def _current_stats_call(queue: str, now_ns: int) -> ScriptCall:
    """The current-stats script of one queue, with today's (UTC) counter keys."""
    today = datetime_from_ns(now_ns)
    stats_keys = [
        keys.pending_key(queue),
        keys.active_key(queue),
        keys.scheduled_key(queue),
        keys.retry_key(queue),
        keys.archived_key(queue),
        keys.completed_key(queue),
        keys.processed_key(queue, today),
        keys.failed_key(queue, today),
        keys.processed_total_key(queue),
        keys.failed_total_key(queue),
        keys.paused_key(queue),
        keys.all_groups(queue),
    ]
    args = [keys.task_key_prefix(queue), keys.group_key_prefix(queue)]
    return load_script("inspect_current_stats").call(stats_keys, args)


def _memory_usage_call(queue: str) -> ScriptCall:
    """The memory-usage sampling script of one queue (wire-protocol.md §10.3)."""
    usage_keys = [
        keys.active_key(queue),
        keys.pending_key(queue),
        keys.scheduled_key(queue),
        keys.retry_key(queue),
        keys.archived_key(queue),
        keys.completed_key(queue),
        keys.all_groups(queue),
    ]
    args: list[ScriptArg] = [
        keys.task_key_prefix(queue),
        MEMORY_SAMPLE_SIZE,
        GROUP_SAMPLE_SIZE,
        keys.group_key_prefix(queue),
    ]
    return load_script("inspect_memory_usage").call(usage_keys, args)


def _queue_info(
    queue: str, stats: Sequence[object], memory_usage: int, now_ns: int, latency_from_ns: int
) -> QueueInfo:
    """QueueInfo from the current-stats reply; latency is measured up to `latency_from_ns`."""
    pending, active, scheduled, retry, archived, completed = (_int_or_zero(n) for n in stats[:6])
    processed, failed, processed_total, failed_total = (_int_or_zero(n) for n in stats[6:10])
    paused, oldest_pending_since, groups, aggregating = (_int_or_zero(n) for n in stats[10:14])
    latency = (
        timedelta(microseconds=(latency_from_ns - oldest_pending_since) // 1000)
        if oldest_pending_since
        else timedelta(0)
    )
    return QueueInfo(
        queue=queue,
        memory_usage=memory_usage,
        latency=latency,
        size=pending + active + scheduled + retry + archived + completed + aggregating,
        groups=groups,
        pending=pending,
        active=active,
        scheduled=scheduled,
        retry=retry,
        archived=archived,
        completed=completed,
        aggregating=aggregating,
        processed=processed,
        failed=failed,
        processed_total=processed_total,
        failed_total=failed_total,
        paused=bool(paused),
        timestamp=datetime_from_ns(now_ns),
    )


class InspectBroker:
    """Inspector operations on one Redis (standalone, Sentinel-managed or Cluster)."""

    def __init__(self, client: AsyncRedis, *, clock: Clock | None = None) -> None:
        """`client` must return bytes (`decode_responses=False`); `clock` gives Unix ns."""
        self._client = client
        self._clock: Clock = clock or time.time_ns

    def _now(self) -> datetime:
        return datetime_from_ns(self._clock())

    def _archive_args(self) -> tuple[int, int, int]:
        """(now, cutoff, max size) of the inspector's archive trim, as Go passes them."""
        now_s = self._clock() // NS_PER_SECOND
        return now_s, now_s - ARCHIVE_MAX_AGE_SECONDS, ARCHIVE_MAX_SIZE

    async def _run(
        self, op: str, name: str, keys_: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        try:
            return await load_script(name).run(self._client, keys_, args)
        except ResponseError as exc:
            raise ScriptError(op, str(exc)) from exc

    async def _run_count(
        self, op: str, name: str, keys_: Sequence[str], args: Sequence[ScriptArg]
    ) -> int:
        return int(await self._run(op, name, keys_, args))

    async def queue_exists(self, queue: str) -> bool:
        return bool(await self._client.sismember(keys.ALL_QUEUES, queue))

    async def check_queue_exists(self, op: str, queue: str) -> None:
        """Raise `QueueNotFoundError` unless `queue` is in `asynq:queues`."""
        if not await self.queue_exists(queue):
            raise QueueNotFoundError(op, queue)

    async def all_queues(self) -> list[str]:
        members = await self._client.smembers(keys.ALL_QUEUES)
        return sorted(_as_text(member) for member in members)

    # -- statistics ---------------------------------------------------------------------------

    async def current_stats(self, queue: str) -> QueueInfo:
        """Counts, counters, latency and memory usage of one queue (Go: CurrentStats)."""
        await self.check_queue_exists(CURRENT_STATS_OP, queue)
        (info,) = await self.queue_infos([queue])
        return info

    async def queue_infos(self, queues: Sequence[str]) -> list[QueueInfo]:
        """`current_stats` of many queues in one pipeline: one round trip (per Cluster node).

        No existence checks: a queue that was never created reads as empty.
        """
        _, infos = await self._stats_pipeline([], queues)
        return infos

    async def overview(self, expected: Sequence[str]) -> Overview:
        """Every queue's statistics and the number of live servers (the web console's page).

        One pipeline carries the queue list, the live servers and the statistics of the
        `expected` queues (the names the previous overview returned); only queues that are
        new since then cost a second round trip.
        """
        now_s = self._clock() // NS_PER_SECOND
        lists = [
            load_script("inspect_queue_names").call([keys.ALL_QUEUES], []),
            load_script("inspect_list_index_keys").call([keys.ALL_SERVERS], [now_s]),
        ]
        (names_reply, servers_reply), infos = await self._stats_pipeline(lists, expected)
        names = sorted(_as_text(name) for name in names_reply)
        known = {info.queue: info for info in infos}
        new = [name for name in names if name not in known]
        if new:
            known.update(zip(new, await self.queue_infos(new), strict=True))
        return Overview([known[name] for name in names], len(servers_reply))

    async def _stats_pipeline(
        self, first: Sequence[ScriptCall], queues: Sequence[str]
    ) -> tuple[list[Any], list[QueueInfo]]:
        """Replies of the `first` calls, then QueueInfo of `queues`, from one pipeline."""
        now_ns = self._clock()
        calls = [
            *first,
            *(
                call
                for queue in queues
                for call in (_current_stats_call(queue, now_ns), _memory_usage_call(queue))
            ),
        ]
        replies = await run_pipelined(self._client, calls)
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise ScriptError(CURRENT_STATS_OP, str(reply)) from reply
            if isinstance(reply, Exception):
                raise reply
        latency_from_ns = self._clock()
        stats_replies = replies[len(first) :]
        infos = [
            _queue_info(queue, stats, int(memory), now_ns, latency_from_ns)
            for queue, stats, memory in zip(
                queues, stats_replies[::2], stats_replies[1::2], strict=True
            )
        ]
        return replies[: len(first)], infos

    async def memory_usage(self, queue: str) -> int:
        """Sampled memory usage of a queue's tasks and lists in bytes (wire-protocol.md §10.3)."""
        call = _memory_usage_call(queue)
        return await self._run_count("rdb.memoryUsage", call.script.name, call.keys, call.args)

    async def historical_stats(self, queue: str, days: int) -> list[DailyStats]:
        """Daily counters of the last `days` UTC days, newest first (Go: HistoricalStats)."""
        op = "rdb.HistoricalStats"
        if days < 1:
            raise FailedPreconditionError(op, "the number of days must be positive")
        await self.check_queue_exists(op, queue)
        now = self._now()
        dates = [now - timedelta(days=i) for i in range(days)]
        day_keys = [
            key
            for day in dates
            for key in (keys.processed_key(queue, day), keys.failed_key(queue, day))
        ]
        counts = await self._run(op, "inspect_historical_stats", day_keys, [])
        return [
            DailyStats(queue, int(counts[2 * i]), int(counts[2 * i + 1]), day)
            for i, day in enumerate(dates)
        ]

    async def group_stats(self, queue: str) -> list[GroupInfo]:
        """(group name, size) for each member of `asynq:{q}:groups`; no existence check."""
        reply = await self._run(
            "RDB.GroupStats",
            "inspect_group_stats",
            [keys.all_groups(queue)],
            [keys.group_key_prefix(queue)],
        )
        return [GroupInfo(_as_text(reply[i]), int(reply[i + 1])) for i in range(0, len(reply), 2)]

    # -- reading tasks ------------------------------------------------------------------------

    async def get_task_info(self, queue: str, task_id: str) -> TaskRecord:
        """One task with its state, next process time and result (Go: GetTaskInfo)."""
        op = "rdb.GetTaskInfo"
        await self.check_queue_exists(op, queue)
        now_s = self._clock() // NS_PER_SECOND
        try:
            reply = await load_script("inspect_get_task_info").run(
                self._client,
                [keys.task_key(queue, task_id)],
                [task_id, now_s, keys.queue_key_prefix(queue)],
            )
        except ResponseError as exc:
            if str(exc) == "NOT FOUND":
                raise TaskNotFoundError(op, queue, task_id) from exc
            raise ScriptError(op, str(exc)) from exc
        encoded, state, process_at, result = reply
        message = _decode_task(encoded)
        if message is None:
            raise ScriptError(op, "could not decode task message")
        process_at_s = _int_or_zero(process_at)
        return TaskRecord(
            message=message,
            state=_as_text(state or b""),
            next_process_at=datetime.fromtimestamp(process_at_s, UTC) if process_at_s else None,
            result=result or None,
        )

    async def list_messages(self, queue: str, state: str, page: Pagination) -> list[TaskRecord]:
        """A page of pending or active tasks, oldest first (Go: ListPending / ListActive)."""
        op = f"rdb.List{state.capitalize()}"
        await self.check_queue_exists(op, queue)
        list_key = keys.pending_key(queue) if state == "pending" else keys.active_key(queue)
        # Lists grow at the head (LPUSH): read the window from the tail and reverse it.
        reply = await self._run(
            op,
            "inspect_list_messages",
            [list_key],
            [-page.stop - 1, -page.start - 1, keys.task_key_prefix(queue)],
        )
        next_process_at = self._now() if state == "pending" else None
        records = []
        for i in range(0, len(reply), 2):
            message = _decode_task(reply[i])
            if message is None:
                continue  # undecodable data is skipped, as in Go
            records.append(TaskRecord(message, state, next_process_at, reply[i + 1] or None))
        records.reverse()
        return records

    async def list_zset_entries(
        self, queue: str, state: str, zset_key: str, page: Pagination
    ) -> list[TaskRecord]:
        """A page of a task zset by ascending score (Go: ListScheduled ... ListAggregating)."""
        op = f"rdb.List{state.capitalize()}"
        await self.check_queue_exists(op, queue)
        reply = await self._run(
            op,
            "inspect_list_zset_entries",
            [zset_key],
            [page.start, page.stop, keys.task_key_prefix(queue)],
        )
        records = []
        for i in range(0, len(reply), 3):
            message = _decode_task(reply[i])
            if message is None:
                continue
            score = int(float(reply[i + 1]))
            next_process_at = (
                datetime.fromtimestamp(score, UTC) if state in ("scheduled", "retry") else None
            )
            records.append(TaskRecord(message, state, next_process_at, reply[i + 2] or None))
        return records

    async def lease_expired_ids(self, queue: str) -> set[str]:
        """IDs of active tasks whose lease score is <= now (Go: ListLeaseExpired(now))."""
        cutoff = self._clock() // NS_PER_SECOND
        members = await self._client.zrangebyscore(keys.lease_key(queue), "-inf", cutoff)
        return {_as_text(member) for member in members}

    # -- mutations ------------------------------------------------------------------------------

    async def run_task(self, queue: str, task_id: str) -> None:
        """Move one non-active, non-pending task to pending (Go: RunTask)."""
        await self._change_task(
            "rdb.RunTask",
            queue,
            task_id,
            "inspect_run_task",
            [keys.task_key(queue, task_id), keys.pending_key(queue), keys.all_groups(queue)],
            [task_id, keys.queue_key_prefix(queue), keys.group_key_prefix(queue)],
            {-1: "task is already running", -2: "task is already in pending state"},
        )

    async def archive_task(self, queue: str, task_id: str) -> None:
        """Archive one non-active task (Go: ArchiveTask)."""
        await self._change_task(
            "rdb.ArchiveTask",
            queue,
            task_id,
            "inspect_archive_task",
            [keys.task_key(queue, task_id), keys.archived_key(queue), keys.all_groups(queue)],
            [
                task_id,
                *self._archive_args(),
                keys.queue_key_prefix(queue),
                keys.group_key_prefix(queue),
            ],
            {
                -1: f"task is already archived: queue={queue} id={task_id}",
                -2: "cannot archive task in active state. use CancelProcessing instead.",
            },
        )

    async def delete_task(self, queue: str, task_id: str) -> None:
        """Delete one non-active task and release its unique lock (Go: DeleteTask)."""
        await self._change_task(
            "rdb.DeleteTask",
            queue,
            task_id,
            "inspect_delete_task",
            [keys.task_key(queue, task_id), keys.all_groups(queue)],
            [task_id, keys.queue_key_prefix(queue), keys.group_key_prefix(queue)],
            {-1: "cannot delete task in active state. use CancelProcessing instead."},
        )

    async def update_task_payload(self, queue: str, task_id: str, payload: bytes) -> None:
        """Replace a scheduled task's payload; the unique key stays (Go: UpdateTaskPayload)."""
        message = (await self.get_task_info(queue, task_id)).message
        message.payload = payload
        await self._change_task(
            "rdb.UpdateTaskPayload",
            queue,
            task_id,
            "inspect_update_task_payload",
            [keys.task_key(queue, task_id)],
            [message.SerializeToString()],
            {-1: "cannot update task that is not in scheduled state."},
        )

    async def _change_task(
        self,
        op: str,
        queue: str,
        task_id: str,
        script: str,
        script_keys: Sequence[str],
        args: Sequence[ScriptArg],
        preconditions: dict[int, str],
    ) -> None:
        """Run a single-task script; map its code to Go's errors (1 done, 0 not found)."""
        await self.check_queue_exists(op, queue)
        code = await self._run_count(op, script, script_keys, args)
        if code == 1:
            return
        if code == 0:
            raise TaskNotFoundError(op, queue, task_id)
        if code in preconditions:
            raise FailedPreconditionError(op, preconditions[code])
        raise ScriptError(op, f"unexpected return value from Lua script: {code}")

    async def run_all(self, queue: str, source_key: str, group: str | None = None) -> int:
        """Move every task of a scheduled/retry/archived zset, or of `group`, to pending.

        Go: RunAll{Scheduled,Retry,Archived}Tasks, and RunAllAggregatingTasks (which also
        removes the group from the queue's groups) when `group` is given.
        """
        op = "rdb.RunAllAggregatingTasks" if group is not None else "rdb.RunAll"
        await self.check_queue_exists(op, queue)
        script_keys = [source_key, keys.pending_key(queue)]
        args: list[ScriptArg] = [keys.task_key_prefix(queue)]
        if group is not None:
            script_keys.append(keys.all_groups(queue))
            args.append(group)
        return await self._run_count(op, "inspect_run_all", script_keys, args)

    async def archive_all(self, queue: str, source_key: str, group: str | None = None) -> int:
        """Archive every task of the pending list, a scheduled/retry zset, or `group`.

        Go: ArchiveAll{Pending,Scheduled,Retry}Tasks, and ArchiveAllAggregatingTasks (which
        also removes the group from the queue's groups) when `group` is given.
        """
        op = "rdb.ArchiveAllAggregatingTasks" if group is not None else "rdb.ArchiveAll"
        await self.check_queue_exists(op, queue)
        script_keys = [source_key, keys.archived_key(queue)]
        args: list[ScriptArg] = [*self._archive_args(), keys.task_key_prefix(queue)]
        if group is not None:
            script_keys.append(keys.all_groups(queue))
            args.append(group)
        return await self._run_count(op, "inspect_archive_all", script_keys, args)

    async def delete_all(self, queue: str, zset_key: str) -> int:
        """Delete every task of a scheduled/retry/archived/completed zset (Go: DeleteAll*)."""
        op = "rdb.DeleteAll"
        await self.check_queue_exists(op, queue)
        return await self._run_count(
            op, "inspect_delete_all", [zset_key], [keys.task_key_prefix(queue)]
        )

    async def delete_all_pending(self, queue: str) -> int:
        op = "rdb.DeleteAllPendingTasks"
        await self.check_queue_exists(op, queue)
        return await self._run_count(
            op,
            "inspect_delete_all_pending",
            [keys.pending_key(queue)],
            [keys.task_key_prefix(queue)],
        )

    async def delete_all_aggregating(self, queue: str, group: str) -> int:
        op = "rdb.DeleteAllAggregatingTasks"
        await self.check_queue_exists(op, queue)
        return await self._run_count(
            op,
            "inspect_delete_all_aggregating",
            [keys.group_key(queue, group), keys.all_groups(queue)],
            [keys.task_key_prefix(queue), group],
        )

    async def remove_queue(self, queue: str, *, force: bool) -> None:
        """Delete a queue's task lists and unregister it (Go: RemoveQueue)."""
        op = "rdb.RemoveQueue"
        await self.check_queue_exists(op, queue)
        queue_keys = [
            keys.pending_key(queue),
            keys.active_key(queue),
            keys.scheduled_key(queue),
            keys.retry_key(queue),
            keys.archived_key(queue),
            keys.lease_key(queue),
        ]
        code = await self._run_count(
            op, "inspect_remove_queue", queue_keys, [keys.task_key_prefix(queue), int(force)]
        )
        if code == -1:
            raise QueueNotEmptyError(op, queue)
        if code == -2:
            raise FailedPreconditionError(op, "cannot remove queue with active tasks")
        if code != 1:
            raise ScriptError(op, f"unexpected return value from Lua script: {code}")
        await self._client.srem(keys.ALL_QUEUES, queue)

    async def pause(self, queue: str) -> None:
        """Set the paused flag; an already paused queue is an error (Go: Pause)."""
        now_s = self._clock() // NS_PER_SECOND
        if not await self._client.set(keys.paused_key(queue), now_s, nx=True):
            raise FailedPreconditionError("rdb.Pause", f'queue "{queue}" is already paused')

    async def unpause(self, queue: str) -> None:
        """Clear the paused flag; a queue that is not paused is an error (Go: Unpause)."""
        if not await self._client.delete(keys.paused_key(queue)):
            raise FailedPreconditionError("rdb.Unpause", f'queue "{queue}" is not paused')

    async def redis_info(self) -> dict[str, str]:
        """Version, uptime, clients and memory of the Redis server (Go CLI `asynq stats`).

        On a Cluster: CLUSTER INFO's state and size (as Go's CLI shows), then each field of
        every primary's INFO, comma-separated in the order of `nodes`.
        """
        if not isinstance(self._client, redis.asyncio.cluster.RedisCluster):
            info = await self._client.info()
            return {name: str(info.get(name, "")) for name in REDIS_INFO_FIELDS}
        cluster = await self._client.cluster_info()
        per_node: dict[str, dict[str, Any]] = await self._client.info(
            target_nodes=redis.asyncio.cluster.RedisCluster.PRIMARIES
        )
        fields = {name: str(cluster.get(name, "")) for name in CLUSTER_INFO_FIELDS}
        fields["nodes"] = ", ".join(per_node)
        for name in REDIS_INFO_FIELDS:
            fields[name] = ", ".join(str(info.get(name, "")) for info in per_node.values())
        return fields

    # -- servers and schedulers -------------------------------------------------------------

    async def _live_index_members(self, index_key: str) -> list[str]:
        """Members of a heartbeat index still alive now; prunes the expired ones."""
        now_s = self._clock() // NS_PER_SECOND
        members = await self._run("rdb.ListKeys", "inspect_list_index_keys", [index_key], [now_s])
        return [_as_text(member) for member in members]

    async def list_servers(self) -> list[asynq_pb2.ServerInfo]:
        """Decoded ServerInfo of every live server; vanished or bad entries are skipped."""
        infos = []
        for key in await self._live_index_members(keys.ALL_SERVERS):
            data = await self._client.get(key)
            infos += _decode_each(asynq_pb2.ServerInfo, [] if data is None else [data], key)
        return infos

    async def list_workers(self) -> list[asynq_pb2.WorkerInfo]:
        """Decoded WorkerInfo of every in-flight task of every live server."""
        workers = []
        for key in await self._live_index_members(keys.ALL_WORKERS):
            workers += _decode_each(asynq_pb2.WorkerInfo, await self._client.hvals(key), key)
        return workers

    async def list_scheduler_entries(self) -> list[asynq_pb2.SchedulerEntry]:
        """Decoded entries of every live scheduler."""
        entries = []
        for key in await self._live_index_members(keys.ALL_SCHEDULERS):
            data = await self._client.lrange(key, 0, -1)
            entries += _decode_each(asynq_pb2.SchedulerEntry, data, key)
        return entries

    async def list_scheduler_enqueue_events(
        self, entry_id: str, page: Pagination
    ) -> list[asynq_pb2.SchedulerEnqueueEvent]:
        """A page of one entry's enqueue history, newest first."""
        members = await self._client.zrevrange(
            keys.scheduler_history_key(entry_id), page.start, page.stop
        )
        return [asynq_pb2.SchedulerEnqueueEvent.FromString(_as_bytes(member)) for member in members]

    # -- Redis Cluster ----------------------------------------------------------------------

    def _cluster_client(self, op: str) -> redis.asyncio.cluster.RedisCluster:
        if not isinstance(self._client, redis.asyncio.cluster.RedisCluster):
            raise BrokerError(op, "needs a Redis Cluster client")
        return self._client

    async def cluster_key_slot(self, queue: str) -> int:
        """Hash slot of the queue's keys, asked of the server (Go: ClusterKeySlot)."""
        client = self._cluster_client("rdb.ClusterKeySlot")
        return int(await client.cluster_keyslot(keys.pending_key(queue)))

    async def cluster_nodes(self, queue: str) -> list[ClusterNode]:
        """Primary then replicas serving the queue's slot (Go: ClusterNodes)."""
        op = "rdb.ClusterNodes"
        client = self._cluster_client(op)
        slot = await self.cluster_key_slot(queue)
        described: dict[str, dict[str, Any]] = await client.cluster_nodes()
        node_ids = {address: str(details["node_id"]) for address, details in described.items()}
        slots: Any = await client.cluster_slots()
        for (start, end), nodes in slots.items():
            if start <= slot <= end:
                served_by = (nodes["primary"], *nodes["replicas"])
                addresses = [f"{host}:{port}" for host, port, *_ in served_by]
                return [ClusterNode(node_ids.get(address, ""), address) for address in addresses]
        raise BrokerError(op, "nodes not found")
