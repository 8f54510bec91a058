"""Producers: `AsyncClient` (asyncio) and `Client` (blocking), enqueueing as Go's asynq.Client.

`enqueue` is one round trip (queue registration and the enqueue script pipelined);
`enqueue_many` sends a whole batch in one pipeline, one round trip per Redis node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self, TypeAlias, Unpack, cast

import redis
import redis.cluster

from kasynq import keys
from kasynq.broker.batching import BatchingClient
from kasynq.broker.core import Broker, TaskWrite
from kasynq.connection import AsyncRedis, RedisConstructors, async_twin
from kasynq.facade import AsyncFacade, BlockingFacade
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.task import (
    DEFAULT_MAX_RETRY,
    DEFAULT_TIMEOUT_SECONDS,
    EPOCH,
    OptionArgs,
    Task,
    TaskInfo,
    TaskOptions,
    TaskState,
    new_task_id,
    options,
    unix_seconds,
    whole_seconds,
)

Clock: TypeAlias = Callable[[], int]
"""Current time in Unix nanoseconds (tests pass a fake)."""

EnqueueResult: TypeAlias = TaskInfo | Exception
"""Per task of `enqueue_many`: its TaskInfo, or the error that kept it out."""


@dataclass(frozen=True, slots=True)
class PreparedTask:
    """A task turned into its message and broker write, with the TaskInfo to return."""

    write: TaskWrite
    info: TaskInfo


def prepare(task: Task, overrides: TaskOptions, now: datetime) -> PreparedTask:
    """Compose options and build the message exactly as Go's `EnqueueContext` (wire-protocol.md §7).

    `overrides` win over the task's own options; `now` is the enqueue time (aware).
    """
    opts = task.options.overridden_by(overrides)
    queue = opts.queue if opts.queue is not None else keys.DEFAULT_QUEUE
    try:
        process_at = opts.process_at or (now + opts.process_in if opts.process_in else now)
    except OverflowError:
        message = f"process_in ends after year 9999: process_in={opts.process_in!r}"
        raise ValueError(message) from None
    deadline = unix_seconds(opts.deadline) if opts.deadline is not None else 0
    timeout = opts.timeout or timedelta(0)
    timeout_seconds = whole_seconds(timeout)
    if deadline == 0 and not timeout:
        timeout_seconds = DEFAULT_TIMEOUT_SECONDS
    unique = opts.unique
    msg = TaskMessage(
        id=opts.task_id if opts.task_id is not None else new_task_id(),
        type=task.type,
        payload=task.payload or b"",
        headers=task.headers or None,  # an empty map costs as much as the rest of the message
        queue=queue,
        retry=opts.max_retry if opts.max_retry is not None else DEFAULT_MAX_RETRY,
        deadline=deadline,
        timeout=timeout_seconds,
        unique_key=keys.unique_key(queue, task.type, task.payload) if unique else "",
        group_key=opts.group or "",
        retention=whole_seconds(opts.retention) if opts.retention is not None else 0,
    )
    if process_at > now:
        lock_ttl = whole_seconds(process_at + unique - now) if unique else 0
        write = TaskWrite(msg, process_at=unix_seconds(process_at), unique_ttl=lock_ttl)
        return PreparedTask(write, _info(msg, TaskState.SCHEDULED, process_at))
    lock_ttl = whole_seconds(unique) if unique else 0
    if opts.group:
        write = TaskWrite(msg, group=opts.group, unique_ttl=lock_ttl)
        return PreparedTask(write, _info(msg, TaskState.AGGREGATING, None))
    return PreparedTask(TaskWrite(msg, unique_ttl=lock_ttl), _info(msg, TaskState.PENDING, now))


def _info(msg: TaskMessage, state: TaskState, next_process_at: datetime | None) -> TaskInfo:
    return TaskInfo.from_message(msg, state, next_process_at=next_process_at)


class AsyncClient(AsyncFacade, RedisConstructors):
    """Enqueue tasks from asyncio code. Create with a client or a `from_*` constructor."""

    def __init__(
        self, client: AsyncRedis, *, clock: Clock | None = None, owns_client: bool = False
    ) -> None:
        """Use `client` (bytes replies); `owns_client` closes it on `close()`; `clock` = Unix ns.

        On a standalone Redis, enqueues go on one pipelined connection of the client's own
        (see `BatchingClient`): a lone call is written at once, and calls made while others
        await their replies share one write.
        """
        self._pipelined = BatchingClient.for_standalone(client)
        broker_client = cast(AsyncRedis, self._pipelined) if self._pipelined else client
        super().__init__(Broker(broker_client, clock=clock), owns_client=owns_client)

    async def close(self) -> None:
        if self._pipelined is not None:
            await self._pipelined.close_connection()
        await super().close()

    @classmethod
    def owning(cls, client: AsyncRedis) -> Self:
        """Wrap `client`, closing it on `close()`."""
        return cls(client, owns_client=True)

    @property
    def broker(self) -> Broker:
        return self._broker

    def _now(self) -> datetime:
        return EPOCH + timedelta(microseconds=self._broker.now_ns() // 1000)

    async def enqueue(self, task: Task, **opts: Unpack[OptionArgs]) -> TaskInfo:
        """Enqueue `task`; keyword options override the task's own.

        Raises `TaskIDConflictError`, `DuplicateTaskError`, `ValueError` for bad options, or the
        Redis error.
        """
        prepared = prepare(task, options(**opts), self._now())
        await self._broker.write_task(prepared.write)
        return prepared.info

    async def enqueue_many(
        self, tasks: Sequence[Task], **opts: Unpack[OptionArgs]
    ) -> list[EnqueueResult]:
        """Enqueue many tasks in one pipelined round trip per Redis node.

        Keyword options apply to every task (overriding each task's own). Returns, in order,
        each task's TaskInfo or the exception that kept it out; one failure never stops the
        others.
        """
        overrides = options(**opts)
        now = self._now()
        prepared: list[PreparedTask | Exception] = []

        def writes() -> Iterator[TaskWrite]:  # lazily: each is written while the next is made
            for task in tasks:
                try:
                    item = prepare(task, overrides, now)
                except ValueError as exc:
                    prepared.append(exc)
                    continue
                prepared.append(item)
                yield item.write

        errors = iter(await self._broker.write_tasks(writes()))
        return [
            item if isinstance(item, Exception) else next(errors) or item.info for item in prepared
        ]

    async def ping(self) -> bool:
        return await self._broker.ping()


class Client(BlockingFacade[AsyncClient], RedisConstructors):
    """Enqueue tasks from blocking code (Django, Flask, scripts); thread-safe.

    Runs an `AsyncClient` on a private event-loop thread. Create it from an existing blocking
    `redis.Redis`/`redis.cluster.RedisCluster`, or with a `from_*` constructor.
    """

    def __init__(
        self,
        client: redis.Redis | redis.cluster.RedisCluster | AsyncRedis,
        *,
        clock: Clock | None = None,
        owns_client: bool = False,
    ) -> None:
        """Use `client`: a blocking one is mirrored by an asyncio twin (closed with us)."""
        if isinstance(client, redis.Redis | redis.cluster.RedisCluster):
            client, owns_client = async_twin(client), True
        super().__init__("kasynq-client", AsyncClient(client, clock=clock, owns_client=owns_client))

    @classmethod
    def owning(cls, client: AsyncRedis) -> Self:
        """Wrap `client`, closing it on `close()`."""
        return cls(client, owns_client=True)

    def enqueue(self, task: Task, **opts: Unpack[OptionArgs]) -> TaskInfo:
        """Blocking `AsyncClient.enqueue`."""
        return self._loop.run(self._async.enqueue(task, **opts))

    def enqueue_many(
        self, tasks: Sequence[Task], **opts: Unpack[OptionArgs]
    ) -> list[EnqueueResult]:
        """Blocking `AsyncClient.enqueue_many`."""
        return self._loop.run(self._async.enqueue_many(tasks, **opts))

    def ping(self) -> bool:
        return self._loop.run(self._async.ping())
