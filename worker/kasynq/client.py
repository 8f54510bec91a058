"""Producers: `AsyncClient` (asyncio) and `Client` (blocking), enqueueing as Go's asynq.Client.

`enqueue` is one round trip (one script registers the queue and creates the task);
`enqueue_many` sends a whole batch in one pipeline, one round trip per Redis node. `Client`
runs the same scripts on a blocking redis-py client, with no event loop in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, Self, TypeAlias, Unpack, cast

import redis
import redis.cluster

from kasynq import keys
from kasynq.broker.batching import BatchingClient
from kasynq.broker.blocking import DEFAULT_SPIN_US, BlockingRedis, BlockingWriter
from kasynq.broker.core import Broker, TaskWrite
from kasynq.connection import (
    AsyncRedis,
    HostPort,
    RedisConstructors,
    blocking_cluster_redis,
    blocking_redis_from_url,
    blocking_sentinel_redis,
)
from kasynq.dependencies import (
    Node,
    Plan,
    dependency_ref,
    enqueue_plan,
    run_plan,
    waiting_node,
)
from kasynq.facade import AsyncFacade, BlockingCloseable
from kasynq.frozen import quick_init
from kasynq.lanes import lane_queue
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
from kasynq.waiting import AsyncTaskInfo, WaitableTaskInfo

Clock: TypeAlias = Callable[[], int]
"""Current time in Unix nanoseconds (tests pass a fake)."""

EnqueueResult: TypeAlias = TaskInfo | Exception
"""Per task of `enqueue_many`: its TaskInfo, or the error that kept it out."""


@quick_init
@dataclass(frozen=True, slots=True)
class PreparedTask:
    """A task turned into its message and broker write, with the TaskInfo to return."""

    write: TaskWrite
    info: TaskInfo


def prepare(
    task: Task,
    overrides: TaskOptions,
    now: datetime,
    queue_prefix: str = "",
    info_type: type[TaskInfo] = TaskInfo,
) -> PreparedTask:
    """Compose options and build the message exactly as Go's `EnqueueContext` (wire-protocol.md §7).

    `overrides` win over the task's own options; `now` is the enqueue time (aware); the
    queue goes to Redis as `<queue_prefix>:<queue>` when a prefix is given. The info is made
    as `info_type` (a waitable one: not copied again on every enqueue).
    """
    opts = task.options.overridden_by(overrides)
    queue = keys.prefixed_queue(
        queue_prefix, opts.queue if opts.queue is not None else keys.DEFAULT_QUEUE
    )
    if opts.priority is not None:
        queue = lane_queue(queue, opts.priority)
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
        return PreparedTask(write, _info(info_type, msg, TaskState.SCHEDULED, process_at))
    lock_ttl = whole_seconds(unique) if unique else 0
    if opts.group:
        write = TaskWrite(msg, group=opts.group, unique_ttl=lock_ttl)
        return PreparedTask(write, _info(info_type, msg, TaskState.AGGREGATING, None))
    write = TaskWrite(msg, unique_ttl=lock_ttl)
    return PreparedTask(write, _info(info_type, msg, TaskState.PENDING, now))


def dependant_node(
    prepared: PreparedTask,
    depends_on: Sequence[TaskInfo | str],
    on_dependency_failure: str,
    explicit_id: bool,
) -> Node:
    """`prepared` as a task waiting for `depends_on` (wire-protocol.md §13.5); IDs name tasks
    of its own queue; cycles are only possible, and looked for, when its ID was chosen."""
    queue = prepared.write.msg.queue
    refs = [dependency_ref(item, queue) for item in depends_on]
    return waiting_node(prepared.write, refs, on_dependency_failure, check_cycles=explicit_id)


class Workflow(Protocol):
    """Tasks to enqueue together, some waiting for others (`kasynq.workflow`)."""

    def nodes(self, prepare: Callable[[Task], PreparedTask]) -> list[Node]: ...


def _info(
    info_type: type[TaskInfo], msg: TaskMessage, state: TaskState, at: datetime | None
) -> TaskInfo:
    return info_type.from_message(msg, state, next_process_at=at)


class AsyncClient(AsyncFacade, RedisConstructors):
    """Enqueue tasks from asyncio code. Create with a client or a `from_*` constructor."""

    def __init__(
        self,
        client: AsyncRedis,
        *,
        clock: Clock | None = None,
        owns_client: bool = False,
        queue_prefix: str = "",
    ) -> None:
        """Use `client` (bytes replies); `owns_client` closes it on `close()`; `clock` = Unix ns;
        `queue_prefix` puts every queue under `<queue_prefix>:` (the operator's `<namespace>:`).

        On a standalone Redis, enqueues go on one pipelined connection of the client's own
        (see `BatchingClient`): a lone call is written at once, and calls made while others
        await their replies share one write.
        """
        self._queue_prefix = keys.checked_queue_prefix(queue_prefix)
        self._client = client
        self._pipelined = BatchingClient.for_standalone(client)
        broker_client = cast(AsyncRedis, self._pipelined) if self._pipelined else client
        super().__init__(Broker(broker_client, clock=clock), owns_client=owns_client)

    async def close(self) -> None:
        if self._pipelined is not None:
            await self._pipelined.close_connection()
        await super().close()

    @classmethod
    def owning(cls, client: AsyncRedis, *, queue_prefix: str = "") -> Self:
        """Wrap `client`, closing it on `close()`."""
        return cls(client, owns_client=True, queue_prefix=queue_prefix)

    @property
    def broker(self) -> Broker:
        return self._broker

    async def enqueue(
        self,
        task: Task,
        *,
        depends_on: Sequence[TaskInfo | str] = (),
        on_dependency_failure: str = "archive",
        **opts: Unpack[OptionArgs],
    ) -> AsyncTaskInfo:
        """Enqueue `task`; keyword options override the task's own. `await info.wait(timeout)`
        on the answer waits for the task's outcome (wire-protocol.md §14).

        With `depends_on` (TaskInfos, or IDs in the task's queue) the task waits until all of
        them completed; one archived or deleted archives it (`on_dependency_failure="run"`:
        runs it anyway); its TaskInfo shows it waiting (scheduled in 2200) even when all of
        them had completed already. Raises `TaskIDConflictError`, `DuplicateTaskError`,
        `ValueError` for bad options, `UnknownDependencyError`, `DependencyCycleError`, or the
        Redis error.
        """
        now_ns = self._broker.now_ns()
        overrides = options(**opts)
        prepared = prepare(task, overrides, moment(now_ns), self._queue_prefix, AsyncTaskInfo)
        if depends_on:
            explicit_id = (overrides.task_id or task.options.task_id) is not None
            node = dependant_node(prepared, depends_on, on_dependency_failure, explicit_id)
            await self._run(enqueue_plan([node], now_ns, on_cluster=self._broker.on_cluster))
            return AsyncTaskInfo.of(node.info, self._client)
        await self._broker.write_task(prepared.write)
        return AsyncTaskInfo.of(prepared.info, self._client)

    async def enqueue_workflow(
        self, workflow: Workflow, **opts: Unpack[OptionArgs]
    ) -> list[TaskInfo]:
        """Enqueue a `chain` or `group(...).then(...)`; options apply to every task. Returns
        each task's TaskInfo in the workflow's order (waiting tasks as scheduled in 2200).
        A task write that fails raises its error; the tasks written before it stay."""
        now_ns = self._broker.now_ns()
        overrides, now = options(**opts), moment(now_ns)
        nodes = workflow.nodes(lambda task: prepare(task, overrides, now, self._queue_prefix))
        await self._run(enqueue_plan(nodes, now_ns, on_cluster=self._broker.on_cluster))
        return [node.info for node in nodes]

    async def _run(self, plan: Plan[None]) -> None:
        await run_plan(self._broker.client, plan)

    async def enqueue_many(
        self, tasks: Sequence[Task], **opts: Unpack[OptionArgs]
    ) -> list[EnqueueResult]:
        """Enqueue many tasks in one pipelined round trip per Redis node.

        Keyword options apply to every task (overriding each task's own). Returns, in order,
        each task's TaskInfo or the exception that kept it out; one failure never stops the
        others.
        """
        overrides = options(**opts)
        now = moment(self._broker.now_ns())
        prepared: list[PreparedTask | Exception] = []

        def writes() -> Iterator[TaskWrite]:  # lazily: each is written while the next is made
            for task in tasks:
                try:
                    item = prepare(task, overrides, now, self._queue_prefix)
                except ValueError as exc:
                    prepared.append(exc)
                    continue
                prepared.append(item)
                yield item.write

        errors = iter(await self._broker.write_tasks(writes()))
        return [
            item if isinstance(item, Exception) else next(errors) or item.info for item in prepared
        ]


DEFAULT_CALL_TIMEOUT_SECONDS = 5.0
"""Socket and connect timeout of the connections a blocking `Client.from_*` opens."""


class Client(BlockingCloseable):
    """Enqueue tasks from blocking code (Django, Flask, scripts, Celery tasks); thread-safe.

    Works on a blocking redis-py client, on the caller's thread: a prepared message and one
    `EVALSHA` per `enqueue` (standalone or Sentinel; Cluster: plus the queue's registration).
    No event loop or thread of its own, so it is fork-safe: one made before `fork()`
    (gunicorn `--preload`, Celery prefork, multiprocessing) works in the child, where redis-py
    opens new connections. Create it from a blocking `redis.Redis` or
    `redis.cluster.RedisCluster` (it keeps that client's socket timeout: set one) or with a
    `from_*` constructor, whose connections time out after `timeout` seconds.
    """

    def __init__(
        self,
        client: BlockingRedis,
        *,
        clock: Clock | None = None,
        owns_client: bool = False,
        queue_prefix: str = "",
        spin_us: float = DEFAULT_SPIN_US,
    ) -> None:
        """Use `client` (bytes replies); `owns_client` closes it on `close()`; `clock` = Unix ns;
        `queue_prefix` puts every queue under `<queue_prefix>:` (the operator's `<namespace>:`).
        `spin_us`: on standalone Redis, how long a call polls for its reply before sleeping
        until it comes (a local Redis answers sooner than a sleeping thread wakes; polling
        pauses by itself while replies come later than that); 0: never.
        """
        if not isinstance(client, redis.Redis | redis.cluster.RedisCluster):
            raise TypeError(
                "Client needs a blocking redis.Redis or redis.cluster.RedisCluster (AsyncClient "
                f"takes asyncio clients): client={type(client).__name__}"
            )
        self._queue_prefix = keys.checked_queue_prefix(queue_prefix)
        self._writer = BlockingWriter(client, clock=clock, spin_us=spin_us)
        self._owns_client = owns_client
        self._closed = False

    @classmethod
    def owning(
        cls, client: BlockingRedis, *, queue_prefix: str = "", spin_us: float = DEFAULT_SPIN_US
    ) -> Self:
        """Wrap `client`, closing it on `close()`."""
        return cls(client, owns_client=True, queue_prefix=queue_prefix, spin_us=spin_us)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
        queue_prefix: str = "",
        spin_us: float = DEFAULT_SPIN_US,
        **connection: Any,
    ) -> Self:
        """From a redis://, rediss://, unix:// or redis-sentinel:// URL (see `redis_from_url`)."""
        client = blocking_redis_from_url(url, **_timeouts(timeout, connection))
        return cls.owning(client, queue_prefix=queue_prefix, spin_us=spin_us)

    @classmethod
    def from_sentinel(
        cls,
        master_name: str,
        sentinels: Sequence[HostPort],
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
        queue_prefix: str = "",
        **connection: Any,
    ) -> Self:
        """Through Sentinel: follows the current master of `master_name`."""
        client = blocking_sentinel_redis(master_name, sentinels, **_timeouts(timeout, connection))
        return cls.owning(client, queue_prefix=queue_prefix)

    @classmethod
    def from_cluster(
        cls,
        nodes: Sequence[HostPort] | str,
        *,
        timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
        queue_prefix: str = "",
        **connection: Any,
    ) -> Self:
        """On Redis Cluster, from startup nodes or one node's URL."""
        client = blocking_cluster_redis(nodes, **_timeouts(timeout, connection))
        return cls.owning(client, queue_prefix=queue_prefix)

    def _open_writer(self) -> BlockingWriter:
        if self._closed:
            raise RuntimeError("this blocking client is closed")
        return self._writer

    def enqueue(
        self,
        task: Task,
        *,
        depends_on: Sequence[TaskInfo | str] = (),
        on_dependency_failure: str = "archive",
        **opts: Unpack[OptionArgs],
    ) -> WaitableTaskInfo:
        """Enqueue `task`; keyword options override the task's own; `depends_on` and
        `on_dependency_failure` as in `AsyncClient.enqueue`. `info.wait(timeout)` on the
        answer waits for the task's outcome (wire-protocol.md §14).

        Raises `TaskIDConflictError`, `DuplicateTaskError`, `ValueError` for bad options,
        `UnknownDependencyError`, `DependencyCycleError`, or the Redis error
        (`redis.TimeoutError` when Redis does not answer in time).
        """
        writer = self._open_writer()
        now_ns = writer.now_ns()
        overrides = options(**opts)
        prepared = prepare(task, overrides, moment(now_ns), self._queue_prefix, WaitableTaskInfo)
        if depends_on:
            explicit_id = (overrides.task_id or task.options.task_id) is not None
            node = dependant_node(prepared, depends_on, on_dependency_failure, explicit_id)
            writer.run_plan(enqueue_plan([node], now_ns, on_cluster=writer.on_cluster))
            return WaitableTaskInfo.of(node.info, writer.client)
        writer.write_task(prepared.write)
        return WaitableTaskInfo.of(prepared.info, writer.client)

    def enqueue_workflow(self, workflow: Workflow, **opts: Unpack[OptionArgs]) -> list[TaskInfo]:
        """`AsyncClient.enqueue_workflow`, blocking."""
        writer = self._open_writer()
        now_ns = writer.now_ns()
        overrides, now = options(**opts), moment(now_ns)
        nodes = workflow.nodes(lambda task: prepare(task, overrides, now, self._queue_prefix))
        writer.run_plan(enqueue_plan(nodes, now_ns, on_cluster=writer.on_cluster))
        return [node.info for node in nodes]

    def enqueue_many(
        self, tasks: Sequence[Task], **opts: Unpack[OptionArgs]
    ) -> list[EnqueueResult]:
        """`AsyncClient.enqueue_many`, blocking: one pipelined round trip per Redis node."""
        writer = self._open_writer()
        overrides = options(**opts)
        now = moment(writer.now_ns())
        prepared: list[PreparedTask | Exception] = []
        for task in tasks:
            try:
                prepared.append(prepare(task, overrides, now, self._queue_prefix))
            except ValueError as exc:
                prepared.append(exc)
        made = [item for item in prepared if not isinstance(item, Exception)]
        errors = iter(writer.write_tasks([item.write for item in made]))
        return [
            item if isinstance(item, Exception) else next(errors) or item.info for item in prepared
        ]

    def ping(self) -> bool:
        return self._open_writer().ping()

    def close(self) -> None:
        """Close this client's connections, and the Redis client if it created it; idempotent."""
        if not self._closed:
            self._closed = True
            self._writer.close()
            if self._owns_client:
                self._writer.client.close()


def moment(now_ns: int) -> datetime:
    """Unix ns as an aware datetime (microseconds, as Go's `time.Time` is used here)."""
    return EPOCH + timedelta(microseconds=now_ns // 1000)


def _timeouts(timeout: float, connection: dict[str, Any]) -> dict[str, Any]:
    """`connection` with socket and connect timeouts of `timeout` s unless it sets them."""
    if not timeout > 0:
        raise ValueError(f"timeout must be positive: timeout={timeout!r}")
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout} | connection
