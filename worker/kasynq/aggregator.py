"""Flushes task groups into one task with the user's GroupAggregator (wire-protocol.md §5.6).

On every tick (min(7 s, grace period)) and for each queue and group, a due group (grace period
passed since its newest task, max delay since its oldest, or max size reached) is staged into
an aggregation set, the aggregator builds one task from its members, that task is enqueued into
the same queue through the normal client path, and the set is deleted. A failed enqueue leaves
the set for the recoverer to return to the group after its 2-minute deadline.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeAlias

from kasynq.broker import Broker
from kasynq.periodic import Periodic
from kasynq.processor import task_from_message
from kasynq.redaction import describe
from kasynq.task import Task

log = logging.getLogger(__name__)

DEFAULT_GRACE_PERIOD_SECONDS = 60.0
MAX_TICK_SECONDS = 7.0
MAX_CONCURRENT_RUNS = 3

GroupAggregator: TypeAlias = Callable[[str, list[Task]], Task | Awaitable[Task]]
"""(group name, member tasks oldest first) → the aggregated task (sync or async)."""

EnqueueFunc: TypeAlias = Callable[[Task, str], Awaitable[object]]
"""Enqueue a task into the given queue with the task's own options (the client path)."""


class Aggregator:
    def __init__(
        self,
        broker: Broker,
        enqueue: EnqueueFunc,
        queues: Sequence[str],
        aggregate: GroupAggregator,
        grace_period: float,
        max_delay: float,
        max_size: int,
    ) -> None:
        self._broker = broker
        self._enqueue = enqueue
        self._queues = list(queues)
        self._aggregate = aggregate
        self._grace = grace_period
        self._max_delay = max_delay
        self._max_size = max_size
        self._runs: set[asyncio.Task[None]] = set()

    def periodic(self) -> Periodic:
        return Periodic("aggregator", self.tick, min(MAX_TICK_SECONDS, self._grace))

    async def tick(self) -> None:
        """Start one aggregation run unless three are still in flight (Go skips the tick)."""
        if len(self._runs) >= MAX_CONCURRENT_RUNS:
            log.warning("aggregator: max concurrent runs reached, skipping tick")
            return
        run = asyncio.create_task(self.run(time.time()))
        self._runs.add(run)
        run.add_done_callback(self._runs.discard)

    async def wait_for_runs(self) -> None:
        """Let in-flight runs finish (shutdown)."""
        if self._runs:
            await asyncio.gather(*self._runs, return_exceptions=True)

    async def run(self, check_time: float) -> None:
        for queue in self._queues:
            try:
                groups = await self._broker.list_groups(queue)
            except Exception as exc:  # next tick retries
                log.error("aggregator: cannot list groups queue=%s error=%s", queue, describe(exc))
                continue
            for group in groups:
                try:
                    await self._aggregate_group(queue, group, check_time)
                except Exception as exc:  # the set is reclaimed later
                    log.error(
                        "aggregator: run failed queue=%s group=%s error=%s",
                        queue,
                        group,
                        describe(exc),
                    )

    async def _aggregate_group(self, queue: str, group: str, check_time: float) -> None:
        set_id = await self._broker.aggregation_check(
            queue, group, check_time, self._grace, self._max_delay, self._max_size
        )
        if not set_id:
            return
        messages, deadline = await self._broker.read_aggregation_set(queue, group, set_id)
        tasks = [task_from_message(msg) for msg in messages]
        aggregated = self._aggregate(group, tasks)
        if inspect.isawaitable(aggregated):
            aggregated = await aggregated
        if not isinstance(aggregated, Task):
            log.error("aggregator returned no task queue=%s group=%s", queue, group)
            return
        async with asyncio.timeout(max(0.0, deadline - time.time())):
            await self._enqueue(aggregated, queue)
        await self._broker.delete_aggregation_set(queue, group, set_id)
        log.info("aggregated group queue=%s group=%s tasks=%d", queue, group, len(tasks))
