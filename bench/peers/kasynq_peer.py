"""kasynq: producer (AsyncClient) and the no-op handler for `kasynq worker`.

Worker: `kasynq worker --handlers bench.peers.kasynq_peer:handler`. The payload is the JSON
array [index, enqueued_at], as in the Go program's bench subcommands.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from kasynq.client import AsyncClient
from kasynq.task import Task

from bench.peers.common import Item, producer_main_async, record, redis_url

TASK_TYPE = "bench:noop"
PENDING_KEY = "asynq:{default}:pending"


def _task(index: int, enqueued_at: float) -> Task:
    return Task(TASK_TYPE, json.dumps([index, enqueued_at]).encode())


async def handler(context: Any, task: Task) -> None:
    """The no-op task: accounting only."""
    index, enqueued_at = json.loads(task.payload or b"[]")
    record(int(index), float(enqueued_at))


async def produce() -> None:
    async with AsyncClient.from_url(redis_url()) as client:

        async def enqueue_one(index: int, enqueued_at: float) -> None:
            await client.enqueue(_task(index, enqueued_at))

        async def enqueue_batch(items: Sequence[Item]) -> None:
            results = await client.enqueue_many([_task(*item) for item in items])
            failures = [result for result in results if isinstance(result, Exception)]
            if failures:
                raise RuntimeError(f"enqueue_many: {len(failures)} failed, first: {failures[0]}")

        async def pending() -> int:
            return int(await client.broker.client.llen(PENDING_KEY))

        await producer_main_async(enqueue_one, enqueue_batch, pending)


if __name__ == "__main__":
    asyncio.run(produce())
