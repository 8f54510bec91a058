"""`Broker`: every atomic Redis operation of asynq v0.26.0, client and server (wire-protocol.md §4).

Method names are Go's RDB methods in snake_case; each runs the Lua script of the same name
under `broker/lua/` with Go's KEYS and ARGV, so Go and Python see identical state. Times come
from the process clock (`clock`, Unix nanoseconds) and are truncated to whole seconds where Go
truncates. Messages are the generated protobuf classes; nothing here validates user input
(that is the client's job).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from google.protobuf.message import DecodeError
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from kasynq import keys
from kasynq.broker.batching import BatchingClient
from kasynq.broker.scripts import (
    LuaScript,
    ScriptArg,
    ScriptCall,
    kept,
    load_script,
    run_pipelined,
)
from kasynq.connection import AsyncRedis
from kasynq.errors import (
    BrokerError,
    DuplicateTaskError,
    QueueFaultError,
    ScriptError,
    TaskIDConflictError,
    is_queue_fault,
)
from kasynq.frozen import quick_init
from kasynq.proto.asynq_pb2 import (
    SchedulerEnqueueEvent,
    SchedulerEntry,
    ServerInfo,
    TaskMessage,
    WorkerInfo,
)
from kasynq.redaction import describe

log = logging.getLogger(__name__)

NS_PER_SECOND = 1_000_000_000
NS_PER_DAY = 86_400 * NS_PER_SECOND
MAX_INT64 = 2**63 - 1
LEASE_SECONDS = 30
"""Lease length given on dequeue and on every extension (Go: LeaseDuration)."""
STATS_TTL_SECONDS = 90 * 24 * 3600
"""Daily counters expire this long after the day's first increment."""
ARCHIVE_MAX_SIZE = 10_000
ARCHIVE_MAX_AGE_SECONDS = 90 * 24 * 3600
FORWARD_BATCH_SIZE = 100
"""Tasks moved per forward script run (fixed inside `forward.lua`, as in Go)."""
AGGREGATION_SET_TIMEOUT_SECONDS = 120
SCHEDULER_HISTORY_MAX_EVENTS = 1000
CANCEL_SUBSCRIBE_TIMEOUT_SECONDS = 5.0
BUSY_TTL_SECONDS = 30
"""Life of a server's busy count (§12.11): longer than the 5 s heartbeat, so once it expired
(the count did not change for this long) the server's workers record says the same."""

_REGISTER_QUEUE = load_script("register_queue")
_ENQUEUE = load_script("enqueue")
_ENQUEUE_UNIQUE = load_script("enqueue_unique")
_SCHEDULE = load_script("schedule")
_SCHEDULE_UNIQUE = load_script("schedule_unique")
_ADD_TO_GROUP = load_script("add_to_group")
_ADD_TO_GROUP_UNIQUE = load_script("add_to_group_unique")
_DEQUEUE = load_script("dequeue")
_DONE = load_script("done")
_MARK_AS_COMPLETE = load_script("mark_as_complete")
_REQUEUE = load_script("requeue")
_REQUEUE_UNANSWERED = load_script("requeue_unanswered")
_RETRY = load_script("retry")
_ARCHIVE = load_script("archive")
_FORWARD = load_script("forward")
_LIST_LEASE_EXPIRED = load_script("list_lease_expired")
_DELETE_EXPIRED_COMPLETED = load_script("delete_expired_completed")
_AGGREGATION_CHECK = load_script("aggregation_check")
_READ_AGGREGATION_SET = load_script("read_aggregation_set")
_DELETE_AGGREGATION_SET = load_script("delete_aggregation_set")
_RECLAIM_STALE_AGGREGATION_SETS = load_script("reclaim_stale_aggregation_sets")
_WRITE_SERVER_STATE = load_script("write_server_state")
_CLEAR_SERVER_STATE = load_script("clear_server_state")
_WRITE_SCHEDULER_ENTRIES = load_script("write_scheduler_entries")
_RECORD_SCHEDULER_ENQUEUE_EVENT = load_script("record_scheduler_enqueue_event")


@quick_init
@dataclass(frozen=True, slots=True)
class TaskWrite:
    """One task to create, routed as Go's client does (wire-protocol.md §7.3).

    `process_at` (Unix s) set: scheduled; else `group` set: aggregating; else pending.
    A non-empty `msg.unique_key` selects the unique script with lock TTL `unique_ttl` (s).
    """

    msg: TaskMessage
    process_at: int | None = None
    group: str | None = None
    unique_ttl: int = 0

    @property
    def op(self) -> str:
        kind = (
            "schedule"
            if self.process_at is not None
            else "add_to_group"
            if self.group
            else "enqueue"
        )
        return f"{kind}_unique" if self.msg.unique_key else kind


Dequeued = tuple[TaskMessage, float, int | None] | None | Exception
"""One dequeue attempt: (message, lease expiry Unix s, pending_since Unix ns or None), None
when nothing was found, or the error that attempt met."""


def leave_active_keys(msg: TaskMessage, destination: str) -> list[str]:
    """KEYS of a script moving the active task `msg` out: active, lease, `destination`, task."""
    queue = msg.queue
    return [
        keys.active_key(queue),
        keys.lease_key(queue),
        destination,
        keys.task_key(queue, msg.id),
    ]


def decode_task_message(data: bytes) -> TaskMessage:
    """Parse a `msg` field; raises `DecodeError` on bytes Go could not decode either."""
    return TaskMessage.FromString(data)


class Broker:
    """Atomic asynq operations on one Redis (standalone, Sentinel-managed or Cluster)."""

    def __init__(self, client: AsyncRedis, *, clock: Callable[[], int] | None = None) -> None:
        """`client` must return bytes (`decode_responses=False`); `clock` gives Unix ns."""
        self.client = client
        self._clock: Callable[[], int] = clock or time.time_ns
        # once: isinstance against redis-py's cluster class goes through typing's slow
        # protocol check (~2 µs), a tenth of an enqueue's own work
        self._on_cluster = isinstance(client, RedisCluster)

    def now_ns(self) -> int:
        return self._clock()

    @property
    def on_cluster(self) -> bool:
        return self._on_cluster

    # -- client side: creating tasks ---------------------------------------------------------

    async def enqueue(self, msg: TaskMessage) -> None:
        """Add a pending task (Go: Enqueue). Raises `TaskIDConflictError`."""
        await self.write_task(TaskWrite(msg))

    async def enqueue_unique(self, msg: TaskMessage, ttl: int) -> None:
        """Add a pending task holding its unique lock for `ttl` s. Raises `DuplicateTaskError`."""
        await self.write_task(TaskWrite(msg, unique_ttl=ttl))

    async def schedule(self, msg: TaskMessage, process_at: int) -> None:
        """Add a task to `scheduled` with score `process_at` (Unix s)."""
        await self.write_task(TaskWrite(msg, process_at=process_at))

    async def schedule_unique(self, msg: TaskMessage, process_at: int, ttl: int) -> None:
        """Schedule a task holding its unique lock for `ttl` s (Go passes wait + unique TTL)."""
        await self.write_task(TaskWrite(msg, process_at=process_at, unique_ttl=ttl))

    async def add_to_group(self, msg: TaskMessage, group: str) -> None:
        """Add a task to the aggregation group `group`."""
        await self.write_task(TaskWrite(msg, group=group))

    async def add_to_group_unique(self, msg: TaskMessage, group: str, ttl: int) -> None:
        """Add a task to a group holding its unique lock for `ttl` s."""
        await self.write_task(TaskWrite(msg, group=group, unique_ttl=ttl))

    async def write_task(self, write: TaskWrite) -> None:
        """Register the queue and create the task in one round trip; raise its error if any."""
        if self._on_cluster:
            error = (await self.write_tasks([write]))[0]
        else:
            call = task_write_call(write, self._clock(), register=True)
            try:
                result = await call.script.run(self.client, call.keys, call.args)
            except ResponseError as exc:
                result = exc
            error = task_write_error(write, result, None)
        if error is not None:
            raise error

    async def write_tasks(self, writes: Iterable[TaskWrite]) -> list[Exception | None]:
        """Create many tasks in one pipeline: one round trip per Redis node.

        Each task's queue is added to `asynq:queues` (always, unlike Go's per-process cache:
        a queue deleted by an inspector reappears on the next enqueue): inside the enqueue
        script on standalone Redis, by pipelined `register_queue` calls on Cluster. `writes` may
        be lazy: on standalone Redis each is written as it is made. Returns one entry per
        write: None on success, else the error (`TaskIDConflictError`, `DuplicateTaskError`,
        `BrokerError` or a Redis error).
        """
        now_ns = self._clock()
        if self._on_cluster:
            return await self._write_tasks_on_cluster(list(writes), now_ns)
        made: list[TaskWrite] = []
        calls = (task_write_call(write, now_ns, register=True) for write in kept(writes, made))
        results = await run_pipelined(self.client, calls)  # each written as it is made
        return [
            task_write_error(write, result, None)
            for write, result in zip(made, results, strict=True)
        ]

    async def _write_tasks_on_cluster(
        self, writes: Sequence[TaskWrite], now_ns: int
    ) -> list[Exception | None]:
        queues = list(dict.fromkeys(write.msg.queue for write in writes))
        register = [_REGISTER_QUEUE.call([keys.ALL_QUEUES], [queue]) for queue in queues]
        calls = [task_write_call(write, now_ns, register=False) for write in writes]
        results = await run_pipelined(self.client, [*register, *calls])
        registration = dict(zip(queues, results[: len(queues)], strict=True))
        return [
            task_write_error(write, result, registration[write.msg.queue])
            for write, result in zip(writes, results[len(queues) :], strict=True)
        ]

    # -- server side: processing -------------------------------------------------------------

    async def dequeue(self, *queues: str) -> tuple[TaskMessage, float] | None:
        """Take the oldest pending task of the first non-paused, non-empty queue in order.

        Returns (message, lease expiry as Unix s with full precision), or None when every queue
        is paused or empty. The task is now `active` with a 30 s lease (Redis score truncated).
        """
        [found] = await self._dequeue_each([queues], traced=False)
        if isinstance(found, Exception):
            raise found
        return None if found is None else (found[0], found[1])

    async def dequeue_many(self, orders: Sequence[Sequence[str]]) -> list[Dequeued]:
        """One `dequeue` per queue order, all pipelined, each with the task's `pending_since`.

        For the server's free slots: every attempt still walks its own queue order, but the
        attempts go to Redis together, one round per queue position. Returns, in order, per
        attempt: (message, lease expiry, pending_since in Unix ns or None), None when every
        queue of its order was paused or empty, or the error (`BrokerError` "dequeue" for a
        message that cannot be decoded, now active for the janitor to archive;
        `QueueFaultError` when Redis refused one queue's keys, e.g. WRONGTYPE).
        """
        return await self._dequeue_each(orders, traced=True)

    async def _dequeue_each(
        self, orders: Sequence[Sequence[str]], *, traced: bool
    ) -> list[Dequeued]:
        found: list[Dequeued] = [None] * len(orders)
        walking = [index for index, order in enumerate(orders) if order]
        position = 0
        while walking:
            lease_ns = self._clock() + LEASE_SECONDS * NS_PER_SECOND
            calls = [
                _dequeue_call(orders[index][position], lease_ns, traced=traced) for index in walking
            ]
            replies = await run_pipelined(self.client, calls)
            position += 1
            next_walking = []
            for index, reply in zip(walking, replies, strict=True):
                if reply is None:
                    if position < len(orders[index]):
                        next_walking.append(index)
                elif is_queue_fault(reply):
                    found[index] = QueueFaultError("dequeue", orders[index][position - 1], reply)
                else:
                    found[index] = _dequeued(reply, lease_ns, traced=traced)
            walking = next_walking
        return found

    async def done(self, msg: TaskMessage) -> None:
        """Delete a successfully processed task, count it, release its unique lock if owned.

        Raises `ScriptError` ("NOT FOUND") when the task is no longer active or leased.
        """
        queue, now_ns = msg.queue, self._clock()
        script_keys = [
            keys.active_key(queue),
            keys.lease_key(queue),
            keys.task_key(queue, msg.id),
            keys.processed_key(queue, _utc(now_ns)),
            keys.processed_total_key(queue),
        ]
        if msg.unique_key:
            script_keys.append(msg.unique_key)
        args: list[ScriptArg] = [msg.id, _stats_expiry(now_ns), MAX_INT64]
        await self._run_checked("done", _DONE, script_keys, args)

    async def mark_as_complete(self, msg: TaskMessage) -> None:
        """Keep a successful task as `completed` until now + retention; count it; release lock.

        Sets `msg.completed_at` to now (Unix s) in place, as Go does, before writing it.
        """
        queue, now_ns = msg.queue, self._clock()
        now_s = now_ns // NS_PER_SECOND
        msg.completed_at = now_s
        script_keys = [
            keys.active_key(queue),
            keys.lease_key(queue),
            keys.completed_key(queue),
            keys.task_key(queue, msg.id),
            keys.processed_key(queue, _utc(now_ns)),
            keys.processed_total_key(queue),
        ]
        if msg.unique_key:
            script_keys.append(msg.unique_key)
        args: list[ScriptArg] = [
            msg.id,
            _stats_expiry(now_ns),
            now_s + msg.retention,
            msg.SerializeToString(),
            MAX_INT64,
        ]
        await self._run_checked("mark_as_complete", _MARK_AS_COMPLETE, script_keys, args)

    async def requeue(self, msg: TaskMessage) -> None:
        """Push an active task back to the dequeue end of pending (shutdown abort); no stats."""
        script_keys = leave_active_keys(msg, keys.pending_key(msg.queue))
        await self._run_checked("requeue", _REQUEUE, script_keys, [msg.id])

    async def retry(
        self, msg: TaskMessage, process_at: float, error_msg: str, *, is_failure: bool
    ) -> None:
        """Move an active task to `retry` due at `process_at` (Unix s).

        The stored message gets `error_msg` and `last_failed_at` = now; `retried` and the
        processed/failed counters grow only when `is_failure`. `msg` itself is not changed.
        """
        queue, now_ns = msg.queue, self._clock()
        modified = _failed_copy(msg, error_msg, now_ns)
        if is_failure:
            modified.retried += 1
        script_keys = [
            keys.task_key(queue, msg.id),
            keys.active_key(queue),
            keys.lease_key(queue),
            keys.retry_key(queue),
            *_failure_stats_keys(queue, now_ns),
        ]
        args: list[ScriptArg] = [
            msg.id,
            modified.SerializeToString(),
            int(process_at),
            _stats_expiry(now_ns),
            1 if is_failure else 0,
            MAX_INT64,
        ]
        await self._run_checked("retry", _RETRY, script_keys, args)

    async def archive(self, msg: TaskMessage, error_msg: str) -> None:
        """Move an active task to `archived` (retries exhausted, SkipRetry, lease lost).

        Records `error_msg` and `last_failed_at` (not `retried`), always counts a failure, and
        trims the archive: tasks older than 90 days and all but the newest 9 999 are deleted
        together with their hashes. The unique lock is kept.
        """
        queue, now_ns = msg.queue, self._clock()
        now_s = now_ns // NS_PER_SECOND
        script_keys = [
            keys.task_key(queue, msg.id),
            keys.active_key(queue),
            keys.lease_key(queue),
            keys.archived_key(queue),
            *_failure_stats_keys(queue, now_ns),
            keys.task_key_prefix(queue),
        ]
        args: list[ScriptArg] = [
            msg.id,
            _failed_copy(msg, error_msg, now_ns).SerializeToString(),
            now_s,
            now_s - ARCHIVE_MAX_AGE_SECONDS,
            ARCHIVE_MAX_SIZE,
            _stats_expiry(now_ns),
            MAX_INT64,
        ]
        await self._run_checked("archive", _ARCHIVE, script_keys, args)

    async def requeue_unanswered(
        self, queue: str, lowest: int, highest: int, held: Sequence[str]
    ) -> list[str]:
        """Put back to pending the active tasks of `queue` whose lease score is still within
        [`lowest`, `highest`] (what dequeues whose replies were lost gave them) and which are
        not in `held` (the caller's in-flight IDs). Returns the IDs put back.

        Only safe once every live server has had time to extend its leases (any extension
        moves the score past `highest`): the caller waits for that.
        """
        replies = await _REQUEUE_UNANSWERED.run(
            self.client,
            [keys.active_key(queue), keys.lease_key(queue), keys.pending_key(queue)],
            [lowest, highest, keys.task_key_prefix(queue), *held],
        )
        return [_text(reply) for reply in replies]

    async def forward_if_ready(self, *queues: str) -> None:
        """Move due scheduled, then due retry tasks of each queue to pending (or their group)."""
        for queue in queues:
            for source in (keys.scheduled_key(queue), keys.retry_key(queue)):
                while True:
                    now_ns = self._clock()
                    moved = await _FORWARD.run(
                        self.client,
                        [source, keys.pending_key(queue)],
                        [
                            now_ns // NS_PER_SECOND,
                            keys.task_key_prefix(queue),
                            now_ns,
                            keys.group_key_prefix(queue),
                        ],
                    )
                    if moved == 0:
                        break

    async def delete_expired_completed_tasks(self, queue: str, batch_size: int = 100) -> int:
        """Delete completed tasks whose retention expired, `batch_size` per script run.

        Returns the number deleted.
        """
        deleted = 0
        while True:
            count = int(
                await _DELETE_EXPIRED_COMPLETED.run(
                    self.client,
                    [keys.completed_key(queue)],
                    [self._clock() // NS_PER_SECOND, keys.task_key_prefix(queue), batch_size],
                )
            )
            deleted += count
            if count == 0:
                return deleted

    async def list_lease_expired(self, cutoff: float, *queues: str) -> list[TaskMessage]:
        """Messages of active tasks whose lease score is <= `cutoff` (Unix s), for recovery.

        Undecodable messages are skipped with a warning (Go fails the whole call; a documented
        divergence that keeps one bad message from stopping recovery of every queue).
        """
        messages: list[TaskMessage] = []
        for queue in queues:
            encoded_list = await _LIST_LEASE_EXPIRED.run(
                self.client, [keys.lease_key(queue)], [int(cutoff), keys.task_key_prefix(queue)]
            )
            for encoded in encoded_list:
                try:
                    messages.append(decode_task_message(encoded))
                except DecodeError as exc:
                    log.warning(
                        "undecodable task message skipped queue=%s error=%s", queue, describe(exc)
                    )
        return messages

    async def extend_lease(self, queue: str, *task_ids: str) -> float:
        """Push the lease of existing members to now + 30 s (`ZADD XX`); returns that expiry.

        IDs no longer in the lease set are silently not re-added, as in Go.
        """
        expiry_ns = self._clock() + LEASE_SECONDS * NS_PER_SECOND
        if task_ids:
            score = expiry_ns // NS_PER_SECOND
            await self.client.zadd(keys.lease_key(queue), dict.fromkeys(task_ids, score), xx=True)
        return expiry_ns / NS_PER_SECOND

    async def write_result(self, queue: str, task_id: str, data: bytes) -> int:
        """Store a handler's result in the task hash (no existence check, as Go)."""
        await self.client.hset(keys.task_key(queue, task_id), "result", data)
        return len(data)

    # -- server side: heartbeat and cancellation ---------------------------------------------

    async def write_server_state(
        self, info: ServerInfo, workers: Sequence[WorkerInfo], ttl: int = 10
    ) -> None:
        """Publish a server's info and in-flight workers for `ttl` s (heartbeat)."""
        server_key = keys.server_info_key(info.host, info.pid, info.server_id)
        workers_key = keys.workers_key(info.host, info.pid, info.server_id)
        expires_at = self._clock() // NS_PER_SECOND + ttl
        await self.client.zadd(keys.ALL_SERVERS, {server_key: expires_at})
        await self.client.zadd(keys.ALL_WORKERS, {workers_key: expires_at})
        args: list[ScriptArg] = [ttl, info.SerializeToString()]
        for worker in workers:
            args += [worker.task_id, worker.SerializeToString()]
        await _WRITE_SERVER_STATE.run(self.client, [server_key, workers_key], args)

    def report_busy(self, busy_key: str, count: int) -> asyncio.Future[Any]:
        """Write a server's in-flight task count (`keys.busy_key`, §12.11) without waiting:
        on the batching client it rides with this loop turn's dequeues and outcome writes."""
        command = ("SET", busy_key, count, "EX", BUSY_TTL_SECONDS)
        if isinstance(self.client, BatchingClient):
            return self.client.send(*command)
        return asyncio.ensure_future(self.client.execute_command(*command))

    async def clear_server_state(self, host: str, pid: int, server_id: str) -> None:
        """Remove a server's info and workers (graceful shutdown)."""
        server_key = keys.server_info_key(host, pid, server_id)
        workers_key = keys.workers_key(host, pid, server_id)
        await self.client.zrem(keys.ALL_SERVERS, server_key)
        await self.client.zrem(keys.ALL_WORKERS, workers_key)
        await _CLEAR_SERVER_STATE.run(self.client, [server_key, workers_key], [])

    async def publish_cancellation(self, task_id: str) -> None:
        """Ask every server to cancel the running task `task_id`."""
        await self.client.publish(keys.CANCEL_CHANNEL, task_id)

    async def subscribe_cancellations(self) -> CancellationSubscription:
        """Subscribe to `asynq:cancel`; returns once Redis confirmed the subscription."""
        if self._on_cluster:
            await self.client.initialize()  # the Cluster pubsub picks its node from the slot map
        pubsub = self.client.pubsub()
        try:
            await pubsub.subscribe(keys.CANCEL_CHANNEL)
            confirmation = await pubsub.get_message(timeout=CANCEL_SUBSCRIBE_TIMEOUT_SECONDS)
            if confirmation is None or confirmation["type"] != "subscribe":
                raise BrokerError("subscribe_cancellations", f"no confirmation: {confirmation}")
        except BaseException:
            await pubsub.aclose()
            raise
        return CancellationSubscription(pubsub)

    # -- server side: aggregation ------------------------------------------------------------

    async def list_groups(self, queue: str) -> list[str]:
        """Names in `asynq:{q}:groups`."""
        members = await self.client.smembers(keys.all_groups(queue))
        return sorted(_text(member) for member in members)

    async def aggregation_check(
        self,
        queue: str,
        group: str,
        check_time: float,
        grace_period: float,
        max_delay: float,
        max_size: int,
    ) -> str:
        """Stage the group's tasks into a new aggregation set if the group is due.

        Due means: >= `max_size` tasks (then exactly the oldest `max_size`), or the oldest is
        >= `max_delay` s old, or the newest >= `grace_period` s old, at `check_time` (Unix s).
        `max_size`/`max_delay` 0 mean no limit. Returns the new set ID, or "" when not due.
        """
        set_id = str(uuid.uuid4())
        deadline = self._clock() // NS_PER_SECOND + AGGREGATION_SET_TIMEOUT_SECONDS
        created = await _AGGREGATION_CHECK.run(
            self.client,
            [
                keys.group_key(queue, group),
                keys.aggregation_set_key(queue, group, set_id),
                keys.all_aggregation_sets(queue),
                keys.all_groups(queue),
            ],
            [max_size, int(max_delay), int(grace_period), deadline, int(check_time), group],
        )
        return set_id if created == 1 else ""

    async def read_aggregation_set(
        self, queue: str, group: str, set_id: str
    ) -> tuple[list[TaskMessage], float]:
        """Messages of a staged set (oldest first) and the set's deadline (Unix s)."""
        set_key = keys.aggregation_set_key(queue, group, set_id)
        encoded_list = await _READ_AGGREGATION_SET.run(
            self.client, [set_key], [keys.task_key_prefix(queue)]
        )
        deadline = await self.client.zscore(keys.all_aggregation_sets(queue), set_key)
        messages = [decode_task_message(encoded) for encoded in encoded_list if encoded]
        return messages, float(deadline or 0)

    async def delete_aggregation_set(self, queue: str, group: str, set_id: str) -> None:
        """Delete an aggregated set's task hashes, the set and its index entry."""
        await _DELETE_AGGREGATION_SET.run(
            self.client,
            [keys.aggregation_set_key(queue, group, set_id), keys.all_aggregation_sets(queue)],
            [keys.task_key_prefix(queue)],
        )

    async def reclaim_stale_aggregation_sets(self, queue: str) -> None:
        """Return tasks of sets past their 2-minute deadline to their group zsets."""
        await _RECLAIM_STALE_AGGREGATION_SETS.run(
            self.client, [keys.all_aggregation_sets(queue)], [self._clock() // NS_PER_SECOND]
        )

    # -- scheduler ---------------------------------------------------------------------------

    async def write_scheduler_entries(
        self, scheduler_id: str, entries: Sequence[SchedulerEntry], ttl: int
    ) -> None:
        """Publish a scheduler's entries for `ttl` s (listed in reverse order, as Go)."""
        entries_key = keys.scheduler_entries_key(scheduler_id)
        expires_at = self._clock() // NS_PER_SECOND + ttl
        await self.client.zadd(keys.ALL_SCHEDULERS, {entries_key: expires_at})
        args: list[ScriptArg] = [ttl, *(entry.SerializeToString() for entry in entries)]
        await _WRITE_SCHEDULER_ENTRIES.run(self.client, [entries_key], args)

    async def clear_scheduler_entries(self, scheduler_id: str) -> None:
        """Remove a scheduler's entries (graceful shutdown)."""
        entries_key = keys.scheduler_entries_key(scheduler_id)
        await self.client.zrem(keys.ALL_SCHEDULERS, entries_key)
        await self.client.delete(entries_key)

    async def record_scheduler_enqueue_event(
        self, entry_id: str, event: SchedulerEnqueueEvent
    ) -> None:
        """Add an event to the entry's history (score = enqueue time), keeping the newest 1000."""
        await _RECORD_SCHEDULER_ENQUEUE_EVENT.run(
            self.client,
            [keys.scheduler_history_key(entry_id)],
            [
                event.enqueue_time.seconds,
                event.SerializeToString(),
                SCHEDULER_HISTORY_MAX_EVENTS,
            ],
        )

    async def clear_scheduler_history(self, entry_id: str) -> None:
        await self.client.delete(keys.scheduler_history_key(entry_id))

    # -- connection --------------------------------------------------------------------------

    async def ping(self) -> bool:
        return bool(await self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()

    async def _run_checked(
        self, op: str, script: LuaScript, script_keys: Sequence[str], args: Sequence[ScriptArg]
    ) -> Any:
        try:
            return await script.run(self.client, script_keys, args)
        except ResponseError as exc:
            raise ScriptError(op, f"redis eval error: {exc}") from exc


class CancellationSubscription:
    """IDs of tasks to cancel, as published on `asynq:cancel`; iterate, then `close()`."""

    def __init__(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub

    async def __aiter__(self) -> AsyncIterator[str]:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                yield _text(message["data"])

    async def close(self) -> None:
        await self._pubsub.aclose()


def _dequeue_call(queue: str, lease_ns: int, *, traced: bool) -> ScriptCall:
    args: list[ScriptArg] = [lease_ns // NS_PER_SECOND, keys.task_key_prefix(queue)]
    script_keys = [
        keys.pending_key(queue),
        keys.paused_key(queue),
        keys.active_key(queue),
        keys.lease_key(queue),
    ]
    return _DEQUEUE.call(script_keys, [*args, 1] if traced else args)


def _dequeued(reply: Any, lease_ns: int, *, traced: bool) -> Dequeued:
    """A dequeue script's non-nil reply as (message, lease expiry, pending_since), or the error."""
    if isinstance(reply, Exception):
        return reply
    encoded, since = (reply[0], reply[1]) if traced else (reply, None)
    try:
        msg = decode_task_message(encoded)
    except DecodeError as exc:
        error = BrokerError("dequeue", f"cannot decode message: {exc}")
        error.__cause__ = exc
        return error
    return msg, lease_ns / NS_PER_SECOND, None if since is None else int(since)


def task_write_call(write: TaskWrite, now_ns: int, *, register: bool) -> ScriptCall:
    """The script call creating `write`; `register` appends asynq:queues and the queue
    (standalone Redis: one script registers the queue and creates the task, as one round trip).
    Shared by `Broker` and the blocking client's `BlockingWriter`."""
    script, script_keys, args = _task_write_script(write, now_ns)
    if register:
        return script.call([*script_keys, keys.ALL_QUEUES], [*args, write.msg.queue])
    return script.call(script_keys, args)


def _task_write_script(
    write: TaskWrite, now_ns: int
) -> tuple[LuaScript, list[str], list[ScriptArg]]:
    msg = write.msg
    queue, task_id = msg.queue, msg.id
    encoded = msg.SerializeToString()
    task = keys.task_key(queue, task_id)
    unique = msg.unique_key
    if write.process_at is not None:
        if unique:
            return (
                _SCHEDULE_UNIQUE,
                [unique, task, keys.scheduled_key(queue)],
                [task_id, write.unique_ttl, write.process_at, encoded],
            )
        return (
            _SCHEDULE,
            [task, keys.scheduled_key(queue)],
            [encoded, write.process_at, task_id],
        )
    if write.group:
        group_keys = [task, keys.group_key(queue, write.group), keys.all_groups(queue)]
        group_args: list[ScriptArg] = [encoded, task_id, now_ns // NS_PER_SECOND, write.group]
        if unique:
            return _ADD_TO_GROUP_UNIQUE, [*group_keys, unique], [*group_args, write.unique_ttl]
        return _ADD_TO_GROUP, group_keys, group_args
    if unique:
        return (
            _ENQUEUE_UNIQUE,
            [unique, task, keys.pending_key(queue)],
            [task_id, write.unique_ttl, encoded, now_ns],
        )
    return _ENQUEUE, [task, keys.pending_key(queue)], [encoded, task_id, now_ns]


def task_write_error(write: TaskWrite, result: object, registration: object) -> Exception | None:
    """The error of a task write from its script's reply (and the queue registration's on
    Cluster), None when the task was created: Go's enqueue result codes (wire-protocol.md §4.1)."""
    if isinstance(registration, Exception):
        return BrokerError(write.op, f"redis command error: SADD failed: {registration}")
    if isinstance(result, ResponseError):
        return BrokerError(write.op, f"redis eval error: {result}")
    if isinstance(result, Exception):
        return result
    if result == 1:
        return None
    if result == 0:
        return TaskIDConflictError(write.op, write.msg.queue, write.msg.id)
    if result == -1:
        return DuplicateTaskError(write.op, write.msg.unique_key)
    return BrokerError(write.op, f"unexpected return value from Lua script: {result!r}")


def _text(value: bytes | str) -> str:
    """A reply as text; replies are bytes because clients run with `decode_responses=False`."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _utc(now_ns: int) -> date:
    return _utc_day(now_ns // NS_PER_DAY)


@functools.lru_cache(maxsize=4)
def _utc_day(days_since_epoch: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days_since_epoch)  # cached: asked for every task


def _stats_expiry(now_ns: int) -> int:
    return now_ns // NS_PER_SECOND + STATS_TTL_SECONDS


def _failure_stats_keys(queue: str, now_ns: int) -> list[str]:
    day = _utc(now_ns)
    return [
        keys.processed_key(queue, day),
        keys.failed_key(queue, day),
        keys.processed_total_key(queue),
        keys.failed_total_key(queue),
    ]


def _failed_copy(msg: TaskMessage, error_msg: str, now_ns: int) -> TaskMessage:
    modified = TaskMessage()
    modified.CopyFrom(msg)
    modified.error_msg = error_msg
    modified.last_failed_at = now_ns // NS_PER_SECOND
    return modified
