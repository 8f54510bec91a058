"""`Server`: runs handlers for asynq queues, interchangeable with Go's (wire-protocol.md §8).

    server = Server("redis://localhost:6379/0", concurrency=10, queues={"critical": 6})
    server.run(mux)          # blocking; SIGTERM/SIGINT shut down, SIGTSTP stops fetching

or, inside asyncio: `await server.start(mux)` ... `await server.shutdown()`.
Defaults are Go's (heartbeat 5 s, lease 30 s, recoverer 1 min, forwarder 5 s, janitor 8 s,
shutdown timeout 8 s), so Go and Python servers can share queues and recover each other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, cast

from kasynq import aggregator as aggregator_module
from kasynq import dependencies
from kasynq import forwarder as forwarder_module
from kasynq import healthcheck as healthcheck_module
from kasynq import heartbeat as heartbeat_module
from kasynq import janitor as janitor_module
from kasynq import recoverer as recoverer_module
from kasynq.aggregator import GroupAggregator
from kasynq.broker import Broker
from kasynq.broker.batching import BatchingClient
from kasynq.broker.wakeup import PendingWatcher
from kasynq.client import AsyncClient
from kasynq.config import log_level
from kasynq.connection import AsyncRedis, redis_from_url
from kasynq.healthcheck import HealthCheckFunc
from kasynq.heartbeat import Heartbeater, ServerIdentity
from kasynq.httpserver import HTTPServer, Probes
from kasynq.keys import DEFAULT_QUEUE, busy_key
from kasynq.lanes import with_lanes
from kasynq.metrics import DEFAULT_MAX_TASK_TYPES, ServerMetrics
from kasynq.periodic import Periodic, finish_within
from kasynq.processor import (
    ErrorHandler,
    Processor,
    ProcessorConfig,
    exit_if_sync_handlers_stuck,
)
from kasynq.retry import IsFailureFunc, RetryDelayFunc, default_is_failure, default_retry_delay
from kasynq.servemux import Handler, ServeMux, as_async
from kasynq.subscriber import Subscriber
from kasynq.syncer import SYNC_INTERVAL_SECONDS, Syncer
from kasynq.task import Task

log = logging.getLogger(__name__)

SHUTDOWN_MARGIN_SECONDS = 3.0
"""`shutdown` returns at most this long after `shutdown_timeout`."""
UNANSWERED_CHECK_INTERVAL_SECONDS = 2.0
"""How often the processor looks for tasks dequeues without a reply left active."""
PROCESSOR_MARGIN_SECONDS = 2.0
"""Of that margin, what the processor may use to requeue (the rest is for the later steps)."""


@dataclass
class ServerConfig:
    """Go's asynq.Config in snake_case, with Go's defaults; see wire-protocol.md §8.1."""

    concurrency: int = 0
    """Handlers running at once; < 1 means the number of CPUs."""
    queues: Mapping[str, int] = field(default_factory=dict)
    """Queue → priority; blank names and priorities <= 0 are dropped; empty → default:1."""
    strict_priority: bool = False
    lanes: bool = False
    """Also serve each queue's priority lanes `<q>.high` and `<q>.low`, strictly in order
    within the queue's turn (wire-protocol.md §15)."""
    task_check_interval: float = 1.0
    """Idle poll period; idle servers are also woken at once by key-change notifications."""
    delayed_task_check_interval: float = forwarder_module.DEFAULT_INTERVAL_SECONDS
    dependency_check_interval: float = dependencies.DEFAULT_CHECK_INTERVAL_SECONDS
    """How often the releaser looks for dependencies settled by Go (wire-protocol.md §13.6)."""
    retry_delay_func: RetryDelayFunc = default_retry_delay
    is_failure: IsFailureFunc = default_is_failure
    error_handler: ErrorHandler | None = None
    shutdown_timeout: float = 8.0
    health_check_func: HealthCheckFunc | None = None
    health_check_interval: float = healthcheck_module.DEFAULT_INTERVAL_SECONDS
    group_grace_period: float = aggregator_module.DEFAULT_GRACE_PERIOD_SECONDS
    group_max_delay: float = 0.0
    group_max_size: int = 0
    group_aggregator: GroupAggregator | None = None
    janitor_interval: float = janitor_module.DEFAULT_INTERVAL_SECONDS
    janitor_batch_size: int = janitor_module.DEFAULT_BATCH_SIZE
    recoverer_interval: float = recoverer_module.DEFAULT_INTERVAL_SECONDS
    recoverer_grace: float = recoverer_module.DEFAULT_GRACE_SECONDS
    """How long a lease must have been expired before recovery (Go: 30 s; keep it in pools)."""
    heartbeat_interval: float = heartbeat_module.DEFAULT_INTERVAL_SECONDS
    http_port: int | None = None
    """Port of the /healthz, /readyz, /metrics endpoint; None = no endpoint, 0 = any port."""
    http_host: str = "0.0.0.0"
    failure_log_level: int | str = logging.WARNING
    """Level of the line logged for every failed attempt (a name such as "INFO", or a number)."""
    metrics_max_task_types: int = DEFAULT_MAX_TASK_TYPES
    """Distinct `task_type` label values in the metrics; later types are counted as `other`."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            self.concurrency = os.cpu_count() or 1
        queues = {
            name: priority
            for name, priority in self.queues.items()
            if name.strip() and priority > 0
        }
        self.queues = queues or {DEFAULT_QUEUE: 1}
        for name in ("task_check_interval", "shutdown_timeout", "dependency_check_interval"):
            if getattr(self, name) <= 0:
                setattr(self, name, getattr(ServerConfig, name))
        if self.group_grace_period < 1:
            raise ValueError(f"group_grace_period must be >= 1 s, got {self.group_grace_period!r}")
        self.failure_log_level = log_level("failure_log_level", self.failure_log_level)
        if self.metrics_max_task_types < 1:
            raise ValueError(
                f"metrics_max_task_types must be >= 1, got {self.metrics_max_task_types!r}"
            )
        if self.janitor_batch_size > 100:
            log.warning("janitor_batch_size above 100 value=%d", self.janitor_batch_size)


CONFIG_FIELDS = frozenset(item.name for item in fields(ServerConfig))


class Server:
    """A worker server: processor plus Go's background components, on one asyncio loop."""

    def __init__(self, redis_client: AsyncRedis | str, **options: Any) -> None:
        """`redis_client`: a client (kept open) or a URL (the server owns and closes it).

        `options` are the fields of `ServerConfig` (e.g. concurrency, queues, strict_priority).
        """
        unknown = set(options) - CONFIG_FIELDS
        if unknown:
            raise TypeError(f"unknown Server option(s): {', '.join(sorted(unknown))}")
        self.config = ServerConfig(**options)
        self._owns_client = isinstance(redis_client, str)
        self._client: AsyncRedis = (
            redis_from_url(redis_client) if isinstance(redis_client, str) else redis_client
        )
        self.broker = Broker(self._client)
        self.identity = ServerIdentity()
        self.metrics = ServerMetrics(max_task_types=self.config.metrics_max_task_types)
        self.state = "new"
        self.processor: Processor | None = None
        self.http: HTTPServer | None = None
        self.health_details: Callable[[], Mapping[str, object]] | None = None
        """Extra `key=value` lines for /healthz (the worker sets the scheduler's status)."""
        self._components: list[Periodic] = []
        self._heartbeat: Periodic | None = None
        self._heartbeater: Heartbeater | None = None
        self._subscriber: Subscriber | None = None
        self._aggregator: aggregator_module.Aggregator | None = None
        self._watcher: PendingWatcher | None = None
        self._syncer = Syncer()
        self._batching: BatchingClient | None = None

    @property
    def fetching(self) -> bool:
        """True while the processor dequeues (what /readyz reports)."""
        return self.state == "active" and self.processor is not None and self.processor.fetching

    async def start(self, handler: Handler) -> None:
        """Start every component and begin processing (Go: Server.Start)."""
        if self.state != "new":
            raise RuntimeError(f"server cannot start in state {self.state!r}")
        config = self.config
        served = with_lanes(config.queues) if config.lanes else dict(config.queues)
        queue_names = list(served)
        wakeup = asyncio.Event()
        self._batching = BatchingClient(self._client)
        self.processor = Processor(
            Broker(cast(AsyncRedis, self._batching)),
            as_async(handler),
            ProcessorConfig(
                concurrency=config.concurrency,
                queues=config.queues,
                strict_priority=config.strict_priority,
                lanes=config.lanes,
                task_check_interval=config.task_check_interval,
                retry_delay_func=config.retry_delay_func,
                is_failure=config.is_failure,
                error_handler=config.error_handler,
                shutdown_timeout=config.shutdown_timeout,
                failure_log_level=int(config.failure_log_level),  # a number after __post_init__
                recoverer_grace=config.recoverer_grace,
                busy_key=busy_key(self.identity.host, self.identity.pid, self.identity.server_id),
                rate_lookup=handler.rate_for if isinstance(handler, ServeMux) else None,
            ),
            self._syncer,
            self.metrics,
            wakeup,
        )
        self._heartbeater = Heartbeater(
            self.broker,
            self.processor,
            self.identity,
            config.concurrency,
            served,
            config.strict_priority,
            lambda: self.state,
        )
        self._heartbeat = Periodic(
            "heartbeater", self._heartbeater.beat, config.heartbeat_interval, first_delay=0
        )
        self._subscriber = Subscriber(self.broker, self.processor.cancel)
        self._watcher = PendingWatcher(self._client, queue_names, wakeup)
        recoverer = recoverer_module.Recoverer(
            self.broker,
            queue_names,
            config.retry_delay_func,
            config.is_failure,
            config.recoverer_grace,
        )
        self._components = [
            forwarder_module.forwarder(
                self.broker, queue_names, config.delayed_task_check_interval
            ),
            recoverer.periodic(config.recoverer_interval),
            Periodic("syncer", self._syncer.sync, SYNC_INTERVAL_SECONDS),
            janitor_module.janitor(
                self.broker, queue_names, config.janitor_interval, config.janitor_batch_size
            ),
            Periodic(
                "unanswered dequeues",
                self.processor.requeue_unanswered,
                UNANSWERED_CHECK_INTERVAL_SECONDS,
            ),
            dependencies.releaser(self._client, queue_names, config.dependency_check_interval),
        ]
        if config.group_aggregator is not None:
            self._aggregator = aggregator_module.Aggregator(
                self.broker,
                self._enqueue_aggregated,
                queue_names,
                config.group_aggregator,
                config.group_grace_period,
                config.group_max_delay,
                config.group_max_size,
            )
            self._components.append(self._aggregator.periodic())
        if config.health_check_func is not None:
            self._components.append(
                healthcheck_module.healthchecker(
                    self.broker, config.health_check_func, config.health_check_interval
                )
            )
        self.state = "active"
        self._heartbeat.start()
        self._subscriber.start()
        self._watcher.start()
        for component in self._components:
            component.start()
        self.processor.start()
        if config.http_port is not None:
            self.http = HTTPServer(
                Probes(
                    self.broker.ping,
                    lambda: self.fetching,
                    self.metrics.exposition,
                    self.health_details,
                ),
                config.http_port,
                config.http_host,
            )
            await self.http.start()
        log.info(
            "server started host=%s pid=%d server_id=%s concurrency=%d queues=%s",
            self.identity.host,
            self.identity.pid,
            self.identity.server_id,
            config.concurrency,
            served,
        )

    def set_failure_log_level(self, level: int | str) -> None:
        """Change the level of the per-failure log line while running (worker config reload)."""
        self.config.failure_log_level = log_level("failure_log_level", level)
        if self.processor is not None:
            self.processor.failure_log_level = self.config.failure_log_level

    async def _enqueue_aggregated(self, task: Task, queue: str) -> None:
        """Go: the aggregated task with its own options, then Queue(q), via the client path."""
        await AsyncClient(self._client).enqueue(task, queue=queue)

    async def stop(self) -> None:
        """Stop fetching new tasks; in-flight tasks and background components go on (SIGTSTP)."""
        if self.state != "active":
            return
        self.state = "stopped"
        if self.processor is not None:
            await self.processor.stop_fetching()
        log.info("server stopped fetching new tasks")

    async def shutdown(self) -> None:
        """Graceful shutdown in Go's order; unfinished tasks are requeued after the timeout.

        Returns within shutdown_timeout + SHUTDOWN_MARGIN_SECONDS whatever handlers, threads
        and Redis do: a step still running at its bound is abandoned and logged (Go exits
        without waiting for stuck goroutines). The processor gets up to shutdown_timeout +
        PROCESSOR_MARGIN_SECONDS; the later steps share what is left.
        """
        if self.state in ("new", "closed"):
            return
        self.state = "closed"
        log.info("server shutting down timeout=%ss", self.config.shutdown_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.shutdown_timeout + SHUTDOWN_MARGIN_SECONDS

        async def step(name: str, awaitable: Awaitable[object], within: float = math.inf) -> None:
            await finish_within(name, awaitable, min(within, deadline - loop.time()))

        forwarder, recoverer, syncer, *others = self._components
        await step("stop forwarder", forwarder.stop())
        if self._watcher is not None:
            await step("stop wakeup watcher", self._watcher.stop())
        if self.processor is not None:
            processor_budget = self.config.shutdown_timeout + PROCESSOR_MARGIN_SECONDS
            await step("stop processor", self.processor.shutdown(), processor_budget)
        await step("stop recoverer", recoverer.stop())
        await step("stop syncer", syncer.stop())
        await step("final sync", self._syncer.sync())
        if self._batching is not None:
            await step("close processor connection", self._batching.close_connection())
        if self._subscriber is not None:
            await step("stop subscriber", self._subscriber.stop())
        for component in others:
            await step(f"stop {component.name}", component.stop())
        if self._aggregator is not None:
            await step("wait for aggregator runs", self._aggregator.wait_for_runs())
        if self.http is not None:
            await step("stop http server", self.http.stop())
        if self._heartbeat is not None:
            await step("stop heartbeater", self._heartbeat.stop())
        if self._heartbeater is not None:  # else the keys expire within 10 s
            await step("clear server state", self._heartbeater.clear())
        if self._owns_client:
            await step("close redis client", self._client.aclose())
        log.info("server exited")

    async def serve(self, handler: Handler, on_hangup: Callable[[], None] | None = None) -> None:
        """Start, then run until SIGTERM/SIGINT (shutdown); SIGTSTP stops fetching (Go's
        signals_unix.go); SIGHUP calls `on_hangup` (the worker reloads its config file).

        SIGHUP's default action would end the process at once, dropping running tasks.
        """
        loop = asyncio.get_running_loop()
        await self.start(handler)
        shutdown_requested = asyncio.Event()
        handlers: dict[signal.Signals, Callable[[], object]] = {
            signal.SIGTERM: shutdown_requested.set,
            signal.SIGINT: shutdown_requested.set,
            signal.SIGTSTP: lambda: asyncio.ensure_future(self.stop()),
            signal.SIGHUP: lambda: self._hangup(on_hangup),
        }
        for signum, callback in handlers.items():
            loop.add_signal_handler(signum, callback)
        try:
            await shutdown_requested.wait()
        finally:
            for signum in handlers:
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(signum)
            await self.shutdown()

    @staticmethod
    def _hangup(on_hangup: Callable[[], None] | None) -> None:
        if on_hangup is None:
            log.info("SIGHUP received, nothing to reload: work goes on")
            return
        try:
            on_hangup()
        except Exception:  # a failed reload must not end the worker
            log.exception("reload on SIGHUP failed, running settings kept")

    def run(self, handler: Handler) -> None:
        """Blocking `serve` on a new event loop (Go: Server.Run)."""
        asyncio.run(self.serve(handler))
        exit_if_sync_handlers_stuck()
