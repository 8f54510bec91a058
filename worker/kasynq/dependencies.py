"""Task dependencies (wire-protocol.md §13): enqueueing a task that waits, settling and
releasing, and the releaser every kasynq server runs.

Each multi-step operation is a *plan*: a generator that yields the script calls of one step
(pipelined: one round trip per Redis node) and receives their replies, so the asyncio client,
the blocking client and the server run the same steps (`run_plan`, `BlockingWriter.run_plan`).
Every step touches one hash slot per call; steps that cross slots are ordered so that a plan
cut short is finished by the next releaser run (§13.6).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeAlias, TypeVar

from redis.exceptions import ResponseError

from kasynq import keys
from kasynq.broker import dependencies as scripts
from kasynq.broker.core import TaskWrite, task_write_call, task_write_error
from kasynq.broker.scripts import ScriptCall, run_pipelined
from kasynq.connection import AsyncRedis
from kasynq.errors import BrokerError, DependencyCycleError, UnknownDependencyError
from kasynq.periodic import Periodic, each_queue
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.redaction import describe
from kasynq.task import TaskInfo, TaskState

log = logging.getLogger(__name__)

T = TypeVar("T")
Plan: TypeAlias = Generator[list[ScriptCall], list[Any], T]
"""Yields one step's calls, receives their replies (an exception per failed call)."""

DEFAULT_CHECK_INTERVAL_SECONDS = 1.0
WAITING_SINCE = datetime.fromtimestamp(scripts.WAITING_SCORE, UTC)
"""`next_process_at` of a waiting task, as Go's Inspector reports it."""
FINAL_OPS = frozenset({"done", "mark_as_complete", "archive"})
"""Outcome writes after which a task may have settled (§13.6)."""


@dataclass(frozen=True, slots=True)
class Node:
    """One task of an enqueue: its write and info, and the refs it waits for (none: plain)."""

    write: TaskWrite
    info: TaskInfo
    depends_on: tuple[str, ...] = ()
    policy: str = "archive"
    check_cycles: bool = False
    """Walk the dependencies for a cycle: only a caller-chosen ID can already be depended on."""

    @property
    def ref(self) -> str:
        return keys.task_key(self.write.msg.queue, self.write.msg.id)


@dataclass(frozen=True, slots=True)
class Edge:
    """One dependency of a waiting task, from its wait hash (§13.3)."""

    queue: str
    task_id: str
    state: str
    """`waiting`, or the dependency's outcome: `completed`, `archived`, `deleted`."""


@dataclass(frozen=True, slots=True)
class TaskLinks:
    """A task's place in a workflow: what it waits (or waited) for, and what waits for it."""

    dependencies: list[Edge]
    dependants: list[tuple[str, str]]
    """(queue, task ID) of some of the tasks waiting for it, sorted."""
    dependant_count: int
    """How many tasks wait for it in all."""


@dataclass(frozen=True, slots=True)
class DependencyResult:
    """A dependency's outcome and `ResultWriter` bytes (None when it wrote none or is gone)."""

    queue: str
    task_id: str
    state: str
    result: bytes | None


def is_waiting(info: TaskInfo) -> bool:
    """Whether `info` is a task waiting for its dependencies: scheduled at `WAITING_SCORE`."""
    return info.state is TaskState.SCHEDULED and info.next_process_at == WAITING_SINCE


def dependency_ref(item: TaskInfo | str, queue: str) -> str:
    """The ref of a `depends_on` item: a TaskInfo, or an ID in `queue` (the dependant's)."""
    if isinstance(item, TaskInfo):
        return keys.task_key(item.queue, item.id)
    if not isinstance(item, str) or not item.strip():
        raise ValueError(f"depends_on takes TaskInfo objects or task IDs: depends_on item={item!r}")
    return keys.task_key(queue, item)


def waiting_node(write: TaskWrite, refs: Iterable[str], policy: str, *, check_cycles: bool) -> Node:
    """A node that waits for `refs` (§13.5); refuses options a waiting task cannot have."""
    msg = write.msg
    if policy not in scripts.POLICIES:
        raise ValueError(
            f"on_dependency_failure must be one of {', '.join(scripts.POLICIES)}: "
            f"on_dependency_failure={policy!r}"
        )
    for name, value in (("process_at/process_in", write.process_at), ("group", write.group)):
        if value:
            raise ValueError(f"depends_on cannot be combined with {name}: {name}={value!r}")
    if msg.unique_key:
        raise ValueError(f"depends_on cannot be combined with unique: task id={msg.id!r}")
    info = TaskInfo.from_message(msg, TaskState.SCHEDULED, next_process_at=WAITING_SINCE)
    depends_on = tuple(dict.fromkeys(refs))
    return Node(TaskWrite(msg), info, depends_on, policy, check_cycles)


def enqueue_plan(nodes: Sequence[Node], now_ns: int, *, on_cluster: bool) -> Plan[None]:
    """Create `nodes` and link their edges (§13.5). Dependencies outside `nodes` must exist;
    raises `UnknownDependencyError`, `DependencyCycleError` (both before anything is written)
    or the first task write error."""
    made = {node.ref for node in nodes}
    for node in nodes:
        if node.ref in node.depends_on:
            raise DependencyCycleError(node.write.msg.queue, node.write.msg.id)
    outside = list(dict.fromkeys(ref for n in nodes for ref in n.depends_on if ref not in made))
    if outside:
        states = yield [scripts.state_call(ref) for ref in outside]
        for ref, state in zip(outside, states, strict=True):
            if _checked(state) is None:
                raise UnknownDependencyError(*keys.parse_task_key(ref))
    chosen = {node.ref for node in nodes if node.check_cycles and node.depends_on}
    if chosen:
        yield from _refuse_cycles(outside, chosen)
    yield from _create(nodes, now_ns, on_cluster)
    edges = [(node.ref, ref) for node in nodes for ref in node.depends_on]
    if not edges:
        return
    answers = yield [scripts.link_call(dependant, ref, now_ns) for dependant, ref in edges]
    settled = [
        (dependant, ref, outcome)
        for (dependant, ref), answer in zip(edges, answers, strict=True)
        if (outcome := _text(_checked(answer))) != "linked"
    ]
    yield from _release(settled, now_ns)


def _create(nodes: Sequence[Node], now_ns: int, on_cluster: bool) -> Plan[None]:
    queues = list(dict.fromkeys(node.write.msg.queue for node in nodes)) if on_cluster else []
    calls = [scripts.register_call(queue) for queue in queues]
    for node in nodes:
        register = not on_cluster
        if node.depends_on:
            msg = node.write.msg
            calls.append(scripts.create_call(msg, node.depends_on, node.policy, register=register))
        else:
            calls.append(task_write_call(node.write, now_ns, register=register))
    replies = yield calls
    registration = dict(zip(queues, replies, strict=False))
    for node, reply in zip(nodes, replies[len(queues) :], strict=True):
        error = task_write_error(node.write, reply, registration.get(node.write.msg.queue))
        if error is not None:
            raise error


def _refuse_cycles(start: Sequence[str], chosen: set[str]) -> Plan[None]:
    """Walk the `waiting` edges upward from `start`; reaching a node of `chosen` is a cycle."""
    seen = set(start)
    frontier = list(start)
    while frontier:
        replies = yield [scripts.wait_info_call(ref) for ref in frontier]
        frontier = []
        for reply in replies:
            for ref, state in _wait_fields(_checked(reply))[1]:
                if state != "waiting":
                    continue
                if ref in chosen:
                    raise DependencyCycleError(*keys.parse_task_key(ref))
                if ref not in seen:
                    seen.add(ref)
                    frontier.append(ref)


def settle_plan(refs: Sequence[str], now_ns: int) -> Plan[None]:
    """Settle the tasks `refs` (those not final are left alone) and release their dependants,
    in turn settling dependants that got archived (§13.6). A failed call raises before the
    dependency is forgotten, so the releaser repeats the whole step later."""
    while refs:
        replies = yield [scripts.settle_call(ref) for ref in refs]
        edges: list[tuple[str, str, str]] = []
        settled: list[str] = []
        for ref, reply in zip(refs, replies, strict=True):
            answer = [_text(item) for item in _checked(reply)]
            if answer:
                settled.append(ref)
                edges += [(dependant, ref, answer[0]) for dependant in answer[1:]]
        archived = yield from _release(edges, now_ns)
        if settled:
            for reply in (yield [scripts.forget_call(ref) for ref in settled]):
                _checked(reply)
        refs = archived


def _release(edges: Sequence[tuple[str, str, str]], now_ns: int) -> Plan[list[str]]:
    """Release (dependant, dependency, outcome) edges; returns the dependants now archived."""
    if not edges:
        return []
    replies = yield [scripts.release_call(w, d, outcome, now_ns) for w, d, outcome in edges]
    return [w for (w, _, _), reply in zip(edges, replies, strict=True) if _checked(reply) == 3]


def scan_plan(queue: str, now_ns: int) -> Plan[None]:
    """The releaser's run over one queue: settle every settled member of `depended`."""
    start = 0
    while True:
        [reply] = yield [scripts.scan_call(queue, start)]
        read, *ids = _checked(reply)
        refs = [keys.task_key(queue, _text(task_id)) for task_id in ids]
        yield from settle_plan(refs, now_ns)
        if read < scripts.SCAN_BATCH_SIZE:
            return
        start += read - len(refs)


def wait_plan(ref: str) -> Plan[tuple[str, list[Edge]]]:
    """(policy, edges in the order given) of a task's wait hash; ("", []) when it has none."""
    [reply] = yield [scripts.wait_info_call(ref)]
    return _edges(reply)


def links_plan(ref: str, dependants_limit: int) -> Plan[TaskLinks]:
    """The task `ref`'s dependencies and up to `dependants_limit` dependants: both records
    live in its queue's slot, so one step (§13.3)."""
    wait, dependants = yield [
        scripts.wait_info_call(ref),
        scripts.dependants_call(ref, dependants_limit),
    ]
    count, refs = _checked(dependants)
    waiting = sorted(keys.parse_task_key(_text(dependant)) for dependant in refs)
    return TaskLinks(_edges(wait)[1], waiting, count)


def _edges(reply: Any) -> tuple[str, list[Edge]]:
    """(policy, edges in the order given) from a wait-info reply."""
    policy, fields = _wait_fields(_checked(reply))
    return policy, [Edge(*keys.parse_task_key(dep), state) for dep, state in fields]


def results_plan(ref: str) -> Plan[list[DependencyResult]]:
    """The outcome and result of each dependency of the task `ref`, in the order given."""
    _, edges = yield from wait_plan(ref)
    if not edges:
        return []
    replies = yield [scripts.result_call(keys.task_key(e.queue, e.task_id)) for e in edges]
    return [
        DependencyResult(edge.queue, edge.task_id, edge.state, _checked(reply))
        for edge, reply in zip(edges, replies, strict=True)
    ]


def _wait_fields(flat: Sequence[Any]) -> tuple[str, list[tuple[str, str]]]:
    """(policy, [(ref, state)] by position) from a wait hash's HGETALL array."""
    policy = ""
    positioned: list[tuple[int, str, str]] = []
    for name, value in zip(flat[::2], flat[1::2], strict=True):
        field, text = _text(name), _text(value)
        if field == "policy":
            policy = text
        elif field != "remaining":
            position, _, state = text.partition(":")
            positioned.append((int(position), field, state))
    return policy, [(ref, state) for _, ref, state in sorted(positioned)]


async def run_plan(client: AsyncRedis, plan: Plan[T]) -> T:
    """Run `plan` on an asyncio client, each step as one pipeline."""
    try:
        calls = next(plan)
        while True:
            calls = plan.send(await run_pipelined(client, calls) if calls else [])
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def _checked(reply: Any) -> Any:
    """A script's reply, or raise the error it came back as."""
    if isinstance(reply, ResponseError):
        raise BrokerError("dependencies", f"redis eval error: {reply}")
    if isinstance(reply, Exception):
        raise reply
    return reply


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class DependencyReader:
    """What `ctx.dependency_results()` reads: a running task's dependencies (§13.8); one per
    processor, shared by its tasks' contexts."""

    def __init__(self, client: AsyncRedis) -> None:
        self._client = client
        self._loop = asyncio.get_running_loop()

    async def read(self, queue: str, task_id: str) -> list[DependencyResult]:
        return await run_plan(self._client, results_plan(keys.task_key(queue, task_id)))

    def read_blocking(self, queue: str, task_id: str) -> list[DependencyResult]:
        """`read` for sync handlers running in the worker thread pool (not on the loop)."""
        return asyncio.run_coroutine_threadsafe(self.read(queue, task_id), self._loop).result()


class Settler:
    """A worker's settle right after a final outcome write of a task others depend on."""

    def __init__(self, client: AsyncRedis, clock: Callable[[], int] = time.time_ns) -> None:
        self._client = client
        self._clock = clock
        self._running: set[asyncio.Task[None]] = set()

    def after_write(self, op: str, msg: TaskMessage) -> None:
        """Settle `msg`'s task in the background when `op` may have made it final and it
        carries the dependants header; a settle that fails is left to the releaser."""
        if op in FINAL_OPS and scripts.has_dependants(msg):
            task = asyncio.create_task(self._settle(keys.task_key(msg.queue, msg.id)))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _settle(self, ref: str) -> None:
        try:
            await run_plan(self._client, settle_plan([ref], self._clock()))
        except Exception as exc:  # the releaser settles it on its next run
            log.warning("settling dependants failed ref=%s error=%s", ref, describe(exc))


def releaser(client: AsyncRedis, queues: Sequence[str], interval: float) -> Periodic:
    """Every `interval` s, settle the dependencies of `queues` that Go (or a killed worker)
    completed, archived or deleted (§13.6)."""

    async def release_one(queue: str) -> None:
        await run_plan(client, scan_plan(queue, time.time_ns()))

    async def release() -> None:
        await each_queue("dependency releaser", queues, release_one)

    return Periodic("dependency releaser", release, interval)
