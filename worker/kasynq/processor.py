"""The processor: dequeues tasks into `concurrency` slots, runs handlers, writes outcomes.

Go semantics (wire-protocol.md §8.2-8.6): queue order per attempt (weighted shuffle or
strict), a 30 s lease per task extended by the heartbeater, the handler bounded by the task's
deadline, outcome = Done / MarkAsComplete / Retry / Archive (Requeue on shutdown abort).
Differences from Go, all invisible on the wire:

* The lease is held until its expiry plus the recoverer grace (less `WRITE_MARGIN_SECONDS`),
  the moment from which a recoverer may take the task, not just until its expiry as in Go:
  a handler keeps running, and its outcome write is retried, through a Redis outage that
  keeps the heartbeater from extending the lease, instead of being stopped and run again.
* Go dequeues one task at a time and sleeps 0.5-1.5 s when idle. kasynq sends one dequeue per
  free slot in one pipelined batch (each one the same atomic script as Go's, each attempt
  walking its own queue order) and, when idle, waits for a wake-up from `Wakeup` (Redis
  key-change notifications) with a `task_check_interval` fallback.
* A slot is freed once its task's outcome write is issued, not when Redis answers it: the next
  dequeue then rides in the same pipeline, behind that write, so Redis never holds more than
  `concurrency` of our tasks active (Go frees the slot after the write returns).
* Async handlers are cancelled at the deadline / on cancellation / on shutdown abort. Sync
  handlers run in a thread and cannot be interrupted: their `ctx.done()` turns true and the
  slot is freed at once (Go abandons the goroutine the same way), but the thread keeps running
  until the handler returns; its late result is ignored.
* A handler raising a BaseException that is not an Exception (`SystemExit`, `KeyboardInterrupt`,
  its own `CancelledError`) fails its task with `HandlerPanic`, as Go's `processor.perform`
  recovers panics; the worker goes on. Every failure is logged once (`failure_log_level`).
* On shutdown abort, an async handler that does not end when cancelled (it swallows
  `CancelledError`) is abandoned after `ABORT_GRACE_SECONDS`: its task is requeued and its slot
  freed without it, as Go's worker requeues and returns without waiting for the handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import os
import random
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

from redis.exceptions import ResponseError

from kasynq.blocking import BLOCK_WARN_SECONDS, LoopWatchdog, handler_name, warn_once
from kasynq.broker import Broker
from kasynq.broker import ratelimit as rate_broker
from kasynq.broker.core import LEASE_SECONDS, Dequeued
from kasynq.broker.quarantine import archive_undecodable
from kasynq.context import ResultWriter, TaskContext
from kasynq.dependencies import DependencyReader, Settler
from kasynq.errors import BrokerError, QueueFaultError
from kasynq.lanes import lane_order, with_lanes
from kasynq.metrics import ServerMetrics
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.ratelimit import RateLimited, RateLimiter, RateLookup
from kasynq.redaction import describe
from kasynq.retry import (
    IsFailureFunc,
    LeaseExpired,
    RetryDelayFunc,
    TaskCanceled,
    TaskDeadlineExceeded,
    error_text,
    is_revoke_task,
    is_skip_retry,
)
from kasynq.servemux import AsyncHandler, handler_executor
from kasynq.syncer import Syncer
from kasynq.task import Task, TaskOptions, message_headers

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30 * 60
"""Deadline used when a message has neither timeout nor deadline (Go logs an error too)."""

RUNNER_PREFIX = "kasynq-task-"
"""Name prefix of the asyncio task running a handler; the task id follows."""

ABORT_GRACE_SECONDS = 1.0
"""After the shutdown abort, how long cancelled async handlers get to end before abandonment."""

BUSY_REFRESH_SECONDS = 1.0
"""Changes of the busy count that keep a busy server busy are written at most this often."""
WRITE_MARGIN_SECONDS = 2.0
"""The lease is given up this long before a recoverer may take the task (lease score truncated
to whole seconds, clock skew between hosts)."""

QUEUE_BACKOFF_SECONDS = 5.0
"""How long a queue whose keys Redis refuses (e.g. WRONGTYPE) is left out of dequeues."""

UNANSWERED_SETTLE_SECONDS = 12.0
"""How long after a dequeue whose reply was lost, with Redis answering again, before the
tasks it may have taken are put back: more than two heartbeats (Go's and kasynq's: 5 s), in
which every live server extends the leases of its tasks past the lost dequeues' scores."""

T = TypeVar("T")

ErrorHandler: TypeAlias = Callable[[TaskContext, Task, BaseException], object]
"""Called for every failure (sync, or async returning an awaitable), as Go's ErrorHandler."""


class HandlerThreads(ThreadPoolExecutor):
    """Thread pool of sync handlers; counts, across pools, the handlers still running."""

    _running = 0
    _lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        def counted() -> T:
            with HandlerThreads._lock:
                HandlerThreads._running += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with HandlerThreads._lock:
                    HandlerThreads._running -= 1

        return super().submit(counted)

    @classmethod
    def running(cls) -> int:
        return cls._running


def exit_if_sync_handlers_stuck() -> None:
    """After shutdown: exit now if sync handlers ignored their cancellation (Go would not wait).

    Their tasks were already requeued or failed; Python would otherwise block at exit joining
    the threads until the handlers return.
    """
    stuck = HandlerThreads.running()
    if stuck:
        log.warning("exiting with sync handlers still running count=%d", stuck)
        logging.shutdown()
        os._exit(0)


class ShutdownAbort(Exception):  # a stop reason, not an error raised to users
    """The shutdown timeout elapsed while the handler was running: the task is requeued."""


class HandlerPanic(Exception):  # Go: errors.PanicError, made by processor.perform's recover
    """A handler raised a BaseException that is not an Exception; the task fails with it.

    The text follows Go's `panic [file:line]: value`, with the innermost frame of the raise
    and `Type: text` as the value; the original exception is the `__cause__`.
    """

    def __init__(self, error: BaseException) -> None:
        value = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        frames = traceback.extract_tb(error.__traceback__)
        where = f" [{frames[-1].filename}:{frames[-1].lineno}]" if frames else ""
        super().__init__(f"panic{where}: {value}")
        self.__cause__ = error


def queue_order_function(queues: Mapping[str, int], strict: bool) -> Callable[[], list[str]]:
    """Go's queue selection: strict priority order, or a fresh weighted shuffle per attempt."""
    divisor = math.gcd(*queues.values())
    weights = {name: priority // divisor for name, priority in queues.items()}
    if len(weights) == 1:
        only = list(weights)
        return lambda: only
    if strict:
        fixed = sorted(weights, key=lambda name: weights[name], reverse=True)
        return lambda: fixed
    expanded = [name for name, weight in weights.items() for _ in range(weight)]

    def weighted() -> list[str]:
        shuffled = random.sample(expanded, len(expanded))
        return list(dict.fromkeys(shuffled))

    return weighted


def compute_deadline(msg: TaskMessage, now: float) -> float:
    """The handler's deadline in Unix seconds (Go: processor.computeDeadline)."""
    if msg.timeout == 0 and msg.deadline == 0:
        log.error("task has neither timeout nor deadline id=%s queue=%s", msg.id, msg.queue)
        return now + DEFAULT_TIMEOUT_SECONDS
    if msg.timeout and msg.deadline:
        return float(min(int(now) + msg.timeout, msg.deadline))
    if msg.timeout:
        return now + msg.timeout
    return float(msg.deadline)


@dataclass(eq=False)
class Worker:
    """One in-flight task: its message, context, lease and the asyncio task running it."""

    msg: TaskMessage
    ctx: TaskContext
    lease_expiry: float
    started_at: float
    lease_grace: float = 0.0
    """How long past `lease_expiry` the lease is still held (see the module docstring)."""
    runner: asyncio.Task[None] | None = None
    handler_running: bool = False
    holds_slot: bool = True
    """Counts against `concurrency` until its outcome write is issued (or it finishes)."""
    abandoned: bool = False
    """Given up on shutdown abort while its handler ignored cancellation; the processor wrote
    the requeue and freed the slot, so the runner writes nothing when the handler ends."""
    stop_reason: BaseException | None = field(default=None, repr=False)

    @property
    def held_until(self) -> float:
        """Unix s until which no recoverer may take the task: the lease is still ours."""
        return self.lease_expiry + self.lease_grace

    def lease_valid(self) -> bool:
        return time.time() <= self.held_until

    def stop(self, reason: BaseException) -> None:
        """End the handler early with `reason` as its outcome (first reason wins).

        Ignored once the handler has finished: the outcome is then already decided.
        """
        if self.stop_reason is not None or not self.handler_running:
            return
        self.stop_reason = reason
        self.ctx.cancel()
        if self.runner is not None:
            self.runner.cancel()


@dataclass
class Unanswered:
    """The lease scores dequeues without a reply may have given tasks of one queue."""

    lowest: int
    highest: int
    last_at: float
    """When the last of them failed (monotonic s)."""


@dataclass
class ProcessorConfig:
    concurrency: int
    queues: Mapping[str, int]
    strict_priority: bool
    lanes: bool
    """Each pick of a queue tries its priority lanes, highest first (wire-protocol.md §15)."""
    task_check_interval: float
    retry_delay_func: RetryDelayFunc
    is_failure: IsFailureFunc
    error_handler: ErrorHandler | None
    shutdown_timeout: float
    recoverer_grace: float
    """How long past its lease a task stays active before recoverers (Go: 30 s) retry it."""
    failure_log_level: int = logging.WARNING
    """Level of the one line logged per failed attempt."""
    rate_lookup: RateLookup | None = None
    """The rate limit of a task type's registration (`ServeMux.rate_for`); None: no limits."""
    busy_key: str | None = None
    """Where the in-flight count is written whenever it changes (`keys.busy_key`), so the
    operator never picks a pod that just took a task as an idle victim; None: not written."""


class Processor:
    """Fetches and runs tasks; `workers` is read by the heartbeater and the subscriber."""

    def __init__(
        self,
        broker: Broker,
        handler: AsyncHandler,
        config: ProcessorConfig,
        syncer: Syncer,
        metrics: ServerMetrics,
        wakeup: asyncio.Event,
    ) -> None:
        self._broker = broker
        self._handler = handler
        self._config = config
        self._syncer = syncer
        self._metrics = metrics
        self._wakeup = wakeup
        self._queue_order = queue_order_function(config.queues, config.strict_priority)
        self._queue_names = list(with_lanes(config.queues) if config.lanes else config.queues)
        if config.lanes:
            self._queue_order = lane_order(self._queue_order)
        self._limiter = (
            RateLimiter(broker, config.rate_lookup) if config.rate_lookup is not None else None
        )
        self._executor = HandlerThreads(
            max_workers=2 * config.concurrency, thread_name_prefix="kasynq-handler"
        )
        self._free_slots = config.concurrency
        self._slot_freed = asyncio.Event()
        self._all_idle = asyncio.Event()
        self._all_idle.set()
        self._fetch_task: asyncio.Task[None] | None = None
        self._fetch_on = False
        self._unanswered: dict[str, Unanswered] = {}
        self._answering_since: float | None = 0.0
        """Since when (monotonic s) dequeues got their replies; None after a lost one."""
        self._faulty_until: dict[str, float] = {}
        """Queues left out of dequeues, until when (monotonic s): one broken queue must not
        hold up the others (Go retries it on every attempt)."""
        self.workers: dict[str, Worker] = {}
        self.failure_log_level = config.failure_log_level
        """Level of the per-failure log line; changed at run time by the server."""
        self._watchdog: LoopWatchdog | None = None
        self._busy_reported: int | None = None
        self._busy_reported_at = 0.0
        self._busy_report_due = False
        self._settler = Settler(broker.client)
        self._dependency_reader = DependencyReader(broker.client)

    @property
    def fetching(self) -> bool:
        return self._fetch_task is not None and not self._fetch_task.done() and self._fetch_on

    def start(self) -> None:
        """Begin dequeuing (Go: processor.start)."""
        if self._fetch_task is None:
            self._fetch_on = True
            self._fetch_task = asyncio.create_task(self._fetch_loop(), name="kasynq-processor")
            self._watchdog = LoopWatchdog(asyncio.get_running_loop(), self._blocked)
            self._watchdog.start()

    async def stop_fetching(self) -> None:
        """Stop dequeuing; in-flight tasks continue (Go: processor.stop).

        A dequeue already sent is allowed to finish and its tasks run normally: cancelling it
        could leave a task active in Redis with nobody running it until its lease expired.
        """
        self._fetch_on = False
        self._wakeup.set()
        self._slot_freed.set()
        task, self._fetch_task = self._fetch_task, None
        if task is not None:
            await task

    async def shutdown(self) -> None:
        """Stop fetching, wait up to shutdown_timeout, then requeue what still runs.

        Returns once every task's outcome is written, which is bounded by the leases; the
        server bounds the whole call to its shutdown budget.
        """
        await self.stop_fetching()
        if not await _wait_event(self._all_idle, self._config.shutdown_timeout):
            log.warning(
                "shutdown timeout elapsed, requeueing in-flight tasks count=%d", len(self.workers)
            )
            for worker in list(self.workers.values()):
                worker.stop(ShutdownAbort())
            if not await _wait_event(self._all_idle, ABORT_GRACE_SECONDS):
                stuck = [worker for worker in self.workers.values() if worker.handler_running]
                for worker in stuck:
                    self._abandon(worker)
                await asyncio.gather(*(self._requeue(worker) for worker in stuck))
                await self._all_idle.wait()
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._watchdog is not None:
            self._watchdog.stop()

    def _abandon(self, worker: Worker) -> None:
        """Free the slot of a handler that ignores its cancellation (its task is requeued)."""
        msg = worker.msg
        log.warning(
            "abandoning a handler that ignores cancellation id=%s queue=%s type=%s",
            msg.id,
            msg.queue,
            msg.type,
        )
        worker.abandoned = True
        self._finish(worker)

    def cancel(self, task_id: str) -> bool:
        """Cancel the running task `task_id` (asynq:cancel); False if it does not run here."""
        worker = self.workers.get(task_id)
        if worker is None:
            return False
        worker.stop(TaskCanceled())
        return True

    def lease_expired(self, worker: Worker) -> None:
        """The heartbeater found the worker's lease expired: give up the task locally."""
        worker.stop(LeaseExpired())

    # -- fetching ----------------------------------------------------------------------------

    async def _fetch_loop(self) -> None:
        handler_executor.set(self._executor)  # inherited by every task spawned from here
        burst = 1
        while self._fetch_on:
            if self._free_slots == 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            attempts = min(self._free_slots, burst)
            self._free_slots -= attempts
            self._all_idle.clear()
            results = await self._dequeue(attempts)
            errors: list[BaseException] = []
            found = faults = 0
            for result in results:
                if isinstance(result, tuple):
                    found += 1
                    self._spawn(*result)
                    continue
                self._release_slot()
                if isinstance(result, QueueFaultError):
                    faults += 1
                    self._leave_out(result)
                elif isinstance(result, BaseException):
                    errors.append(result)
            for error in errors[:1]:
                await self._on_dequeue_error(error)
            if found == attempts:
                burst = min(self._config.concurrency, 2 * burst)
                continue
            burst = max(1, found)
            if found == 0 and faults == 0 and self._fetch_on:
                await self._idle_wait(bool(errors))

    def _leave_out(self, fault: QueueFaultError) -> None:
        """Leave a queue Redis refuses out of dequeues for a while; log it once per interval."""
        now = time.monotonic()
        if self._faulty_until.get(fault.queue, 0.0) > now:
            return  # another attempt of the same batch met it too
        self._faulty_until[fault.queue] = now + QUEUE_BACKOFF_SECONDS
        log.error(
            "dequeue failed, leaving the queue out queue=%s for=%ss error=%s",
            fault.queue,
            QUEUE_BACKOFF_SECONDS,
            describe(fault.__cause__ or fault),
        )

    def _next_order(self) -> list[str]:
        """The next queue order without the queues currently left out."""
        order = self._queue_order()
        if not self._faulty_until:
            return order
        now = time.monotonic()
        for queue, until in list(self._faulty_until.items()):
            if until <= now:
                del self._faulty_until[queue]  # tried again; a new fault leaves it out again
        return [queue for queue in order if queue not in self._faulty_until]

    async def _on_dequeue_error(self, error: BaseException) -> None:
        log.error("dequeue failed error=%s", describe(error))
        if isinstance(error, BrokerError) and error.op == "dequeue":
            # An undecodable message is now active with nobody to run it: archive it at once.
            with contextlib.suppress(Exception):
                await archive_undecodable(self._broker, self._queue_names, math.inf)

    async def _dequeue(self, attempts: int) -> list[Dequeued]:
        """`attempts` dequeues, each with its own queue order (weighted orders are random).

        Attempts whose reply was lost (connection lost or timed out) may still have taken a
        task in Redis: their queues and lease scores are noted for `requeue_unanswered`.
        """
        orders = [self._next_order() for _ in range(attempts)]
        sent_at = time.time()
        results: list[Dequeued]
        try:
            results = await self._broker.dequeue_many(orders)
        except Exception as exc:  # the whole batch failed (e.g. a Cluster node is down)
            results = [exc] * attempts
        lost = [order for order, result in zip(orders, results, strict=True) if _lost(result)]
        if lost:
            self._answering_since = None
            self._note_unanswered(lost, sent_at)
        elif self._answering_since is None:
            self._answering_since = time.monotonic()
        return results

    def _note_unanswered(self, orders: list[list[str]], sent_at: float) -> None:
        # the dequeues' lease score: int(their clock) + LEASE_SECONDS (Broker.dequeue_many)
        lowest = int(sent_at) + LEASE_SECONDS
        highest = int(time.time()) + LEASE_SECONDS
        now = time.monotonic()
        for queue in {queue for order in orders for queue in order}:
            record = self._unanswered.get(queue)
            if record is None:
                self._unanswered[queue] = Unanswered(lowest, highest, now)
            else:
                record.lowest = min(record.lowest, lowest)
                record.highest = max(record.highest, highest)
                record.last_at = now

    async def requeue_unanswered(self) -> None:
        """Put back the tasks dequeues without a reply left active with nobody running them.

        Run periodically; acts once Redis has answered for `UNANSWERED_SETTLE_SECONDS`: a
        task whose lease score is still one of the lost dequeues' was extended by no server,
        and is not ours (running, or with its outcome write waiting in the syncer). Without
        this it would stay active until a recoverer retried it after its lease and the
        recoverer grace (about a minute).
        """
        if not self._unanswered or self._answering_since is None:
            return
        now = time.monotonic()
        for queue, record in list(self._unanswered.items()):
            if now < max(record.last_at, self._answering_since) + UNANSWERED_SETTLE_SECONDS:
                continue
            held = [worker.msg.id for worker in self.workers.values() if worker.msg.queue == queue]
            held += self._syncer.task_ids()
            requeued = await self._broker.requeue_unanswered(
                queue, record.lowest, record.highest, held
            )
            if self._unanswered.get(queue) is record:
                del self._unanswered[queue]
            if requeued:
                log.warning(
                    "put back tasks a dequeue without reply left active queue=%s count=%d",
                    queue,
                    len(requeued),
                )

    async def _idle_wait(self, after_error: bool) -> None:
        """Sleep until a wake-up (new pending work) or the poll interval; back off on errors."""
        interval = self._config.task_check_interval
        self._wakeup.clear()
        if after_error:
            # Back off after a Redis error (Go re-polls at once); only a stop ends it early.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    while self._fetch_on:
                        self._wakeup.clear()
                        await self._wakeup.wait()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), interval)

    def _release_slot(self) -> None:
        self._free_slots += 1
        self._slot_freed.set()
        self._set_idle_if_idle()

    def _free_slot(self, worker: Worker) -> None:
        if worker.holds_slot:
            worker.holds_slot = False
            self._release_slot()

    def _set_idle_if_idle(self) -> None:
        """Idle: no dequeue in flight, no handler running, no outcome write pending."""
        if self._free_slots == self._config.concurrency and not self.workers:
            self._all_idle.set()

    # -- running -----------------------------------------------------------------------------

    def _spawn(self, msg: TaskMessage, lease_expiry: float, pending_since_ns: int | None) -> None:
        now = time.time()
        if pending_since_ns is not None:
            self._metrics.pickup_delay.labels(msg.queue).observe(
                max(0.0, now - pending_since_ns / 1e9)
            )
        ctx = TaskContext(
            task_id=msg.id,
            queue=msg.queue,
            retry_count=msg.retried,
            max_retry=msg.retry,
            deadline=compute_deadline(msg, now),
        )
        ctx.result_writer = ResultWriter(ctx, self._broker.write_result)
        ctx.dependency_reader = self._dependency_reader
        lease_grace = max(0.0, self._config.recoverer_grace - WRITE_MARGIN_SECONDS)
        worker = Worker(
            msg=msg, ctx=ctx, lease_expiry=lease_expiry, started_at=now, lease_grace=lease_grace
        )
        self.workers[msg.id] = worker
        self._metrics.in_flight.inc()
        self._busy_changed()
        worker.runner = asyncio.create_task(self._run(worker), name=RUNNER_PREFIX + msg.id)

    async def _run(self, worker: Worker) -> None:
        msg = worker.msg
        task = task_from_message(msg)
        try:
            error = await self._call_handler(worker, task)
            self._metrics.for_task(msg.queue, msg.type).duration.observe(
                time.time() - worker.started_at
            )
            if not worker.abandoned:
                await self._handle_outcome(worker, task, error)
        finally:
            if not worker.abandoned:
                self._finish(worker)

    def _finish(self, worker: Worker) -> None:
        self.workers.pop(worker.msg.id, None)
        self._metrics.in_flight.dec()
        self._free_slot(worker)
        self._set_idle_if_idle()
        self._busy_changed()

    def _busy_changed(self) -> None:
        """Write the in-flight count at the end of this loop turn, with the turn's dequeues and
        outcome writes (one more command in their batch, no round trip). Going from idle to
        busy or back is written at once; other changes at most every
        `BUSY_REFRESH_SECONDS` (a pod running tasks without a break writes once a second)."""
        if self._config.busy_key is None or self._busy_report_due:
            return
        self._busy_report_due = True
        count, reported = len(self.workers), self._busy_reported
        wait = 0.0
        if count > 0 and reported:  # busy and known busy: only the number changed
            wait = self._busy_reported_at + BUSY_REFRESH_SECONDS - time.monotonic()
        loop = asyncio.get_running_loop()
        if wait > 0:
            loop.call_later(wait, self._report_busy)
        else:
            loop.call_soon(self._report_busy)

    def _report_busy(self) -> None:
        self._busy_report_due = False
        count = len(self.workers)
        if self._config.busy_key is None or count == self._busy_reported:
            return
        self._busy_reported, self._busy_reported_at = count, time.monotonic()
        reply = self._broker.report_busy(self._config.busy_key, count)
        reply.add_done_callback(self._busy_reported_or_not)

    def _busy_reported_or_not(self, reply: asyncio.Future[Any]) -> None:
        """A failed write is written again at the next change; the heartbeat's workers record
        stays the operator's fallback."""
        error = None if reply.cancelled() else reply.exception()
        if error is not None:
            self._busy_reported = None
            log.debug("busy count not written error=%s", describe(error))

    async def _call_handler(self, worker: Worker, task: Task) -> BaseException | None:
        """Run the handler until it returns, its deadline passes or the worker is stopped."""
        ctx = worker.ctx
        remaining = ctx.remaining()
        if remaining <= 0:
            return ctx.error()
        loop = asyncio.get_running_loop()
        timer = loop.call_at(loop.time() + remaining, _deadline_passed, worker)
        worker.handler_running = True
        try:
            if self._limiter is not None and (limited := await self._limiter.admit(task.type)):
                return limited
            await self._handler(ctx, task)
        except asyncio.CancelledError as exc:
            current = asyncio.current_task()
            if worker.stop_reason is not None:
                if current is not None:
                    current.uncancel()
                return worker.stop_reason
            if current is not None and current.cancelling():
                raise  # the runner itself is cancelled (the loop is closing): not an outcome
            return HandlerPanic(exc)  # the handler raised it itself
        except Exception as exc:  # any handler error is a task failure
            return exc
        except GeneratorExit:
            raise
        except BaseException as exc:  # SystemExit, KeyboardInterrupt...: must not end the worker
            return HandlerPanic(exc)
        finally:
            worker.handler_running = False
            timer.cancel()
        return None

    def _blocked(self, running: asyncio.Task[Any]) -> None:
        """The watchdog saw `running` hold the loop over BLOCK_WARN_SECONDS (its thread)."""
        name = running.get_name()
        if not name.startswith(RUNNER_PREFIX):
            return  # not a handler: nothing to name
        worker = self.workers.get(name.removeprefix(RUNNER_PREFIX))
        if worker is None:
            return
        warn_once(
            "loop",
            handler_name(self._handler, worker.msg.type),
            f"handler blocked the event loop for over {BLOCK_WARN_SECONDS:g}s; "
            "use await or a sync handler",
            type=worker.msg.type,
        )

    def _log_failure(self, msg: TaskMessage, error: BaseException) -> None:
        """One line per failed attempt; the traceback when the task is archived (Go logs
        "Retry exhausted") or the handler panicked."""
        archived = not is_revoke_task(error) and (msg.retried >= msg.retry or is_skip_retry(error))
        outcome = "revoked" if is_revoke_task(error) else "archived" if archived else "retry"
        panic = isinstance(error, HandlerPanic)
        log.log(
            self.failure_log_level,
            "task failed id=%s type=%s queue=%s retried=%d/%d outcome=%s error=%s",
            msg.id,
            msg.type,
            msg.queue,
            msg.retried,
            msg.retry,
            outcome,
            error_text(error),
            exc_info=(error.__cause__ if panic else error) if archived or panic else None,
        )

    async def _handle_outcome(
        self, worker: Worker, task: Task, error: BaseException | None
    ) -> None:
        msg = worker.msg
        metrics = self._metrics.for_task(msg.queue, msg.type)
        if isinstance(error, ShutdownAbort):
            await self._requeue(worker)
            return
        if isinstance(error, RateLimited):  # held back: no counter, no retry (§16)
            process_at = math.ceil(time.time() + error.delay)
            await self._write(
                worker, "rate_delay", lambda: rate_broker.delay(self._broker, msg, process_at)
            )
            return
        metrics.processed.inc()
        if error is None:
            if msg.retention > 0:
                await self._write(
                    worker, "mark_as_complete", lambda: self._broker.mark_as_complete(msg)
                )
            else:
                await self._write(worker, "done", lambda: self._broker.done(msg))
            return
        metrics.failed.inc()
        self._log_failure(msg, error)
        await self._call_error_handler(worker, task, error)
        if is_revoke_task(error):
            await self._write(worker, "done", lambda: self._broker.done(msg))
        elif msg.retried >= msg.retry or is_skip_retry(error):
            metrics.archived.inc()
            text = error_text(error)
            await self._write(worker, "archive", lambda: self._broker.archive(msg, text))
        else:
            metrics.retried.inc()
            text = error_text(error)
            delay = self._config.retry_delay_func(msg.retried, error, task)
            retry_at = time.time() + delay
            is_failure = self._config.is_failure(error)
            await self._write(
                worker,
                "retry",
                lambda: self._broker.retry(msg, retry_at, text, is_failure=is_failure),
            )

    async def _requeue(self, worker: Worker) -> None:
        await self._write(worker, "requeue", lambda: self._broker.requeue(worker.msg))

    async def _call_error_handler(self, worker: Worker, task: Task, error: BaseException) -> None:
        if self._config.error_handler is None:
            return
        try:
            result = self._config.error_handler(worker.ctx, task, error)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a broken error handler must not lose the task
            log.error("error handler failed task_id=%s error=%s", worker.msg.id, describe(exc))

    async def _write(self, worker: Worker, op: str, write: Callable[[], Awaitable[None]]) -> None:
        """Run an outcome write while the lease is held; hand failures to the syncer, which
        retries them as long as the lease is held (`Worker.held_until`)."""
        msg = worker.msg
        if not worker.lease_valid():
            log.warning(
                "lease expired, leaving task to the recoverer op=%s id=%s queue=%s",
                op,
                msg.id,
                msg.queue,
            )
            return
        self._free_slot(worker)  # the next dequeue can now go out right behind this write
        deadline = worker.held_until
        try:
            async with asyncio.timeout(max(0.0, deadline - time.time())):
                await write()
            self._settler.after_write(op, msg)  # wire-protocol.md §13.6
        except Exception as exc:  # retried by the syncer until the lease ends
            log.warning(
                "outcome write failed, will retry op=%s id=%s queue=%s error=%s",
                op,
                msg.id,
                msg.queue,
                describe(exc),
            )
            self._syncer.add(op, write, deadline=deadline, task_id=msg.id)


def _lost(result: Dequeued) -> bool:
    """A dequeue attempt that failed without an answer from Redis (it may have run)."""
    return isinstance(result, Exception) and not isinstance(result, ResponseError | BrokerError)


def _deadline_passed(worker: Worker) -> None:
    worker.stop(TaskDeadlineExceeded())  # made only when it fires: most tasks finish in time


async def _wait_event(event: asyncio.Event, within: float) -> bool:
    """Wait for `event` at most `within` s; True if it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await event.wait()
    return event.is_set()


_NO_OPTIONS = TaskOptions()


def task_from_message(msg: TaskMessage) -> Task:
    """The Task a handler sees: type, payload and headers of the stored message.

    Built without `Task.__init__`'s validation: the fields come from a decoded message whose
    strings protobuf already checked, and this runs once per processed task.
    """
    task = Task.__new__(Task)
    task.type = msg.type
    task.payload = msg.payload
    task.headers = message_headers(msg)
    task.options = _NO_OPTIONS
    return task
