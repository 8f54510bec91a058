"""kasynq: producers (AsyncClient; `blocking` first: the blocking Client) and the no-op
handler for `kasynq worker`.

Worker: `kasynq worker --handlers bench.peers.kasynq_peer:handler`. The payload is the JSON
array [index, enqueued_at], as in the Go program's bench subcommands.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import redis
from kasynq.client import AsyncClient, Client, EnqueueResult
from kasynq.context import TaskContext
from kasynq.task import Task
from kasynq.workflow import group

from bench.peers.common import (
    Item,
    fan_out_main,
    producer_main,
    producer_main_async,
    record,
    record_callback,
    redis_url,
)
from bench.systems import BLOCKING_CLIENT, FAN_OUT

TASK_TYPE = "bench:noop"
CALLBACK_TYPE = "bench:callback"
PENDING_KEY = "asynq:{default}:pending"


def _task(index: int, enqueued_at: float) -> Task:
    return Task(TASK_TYPE, json.dumps([index, enqueued_at]).encode())


async def handler(context: Any, task: Task) -> None:
    """The no-op task: accounting only."""
    index, enqueued_at = json.loads(task.payload or b"[]")
    record(int(index), float(enqueued_at))


async def fan_out_handler(context: TaskContext, task: Task) -> None:
    """The fan-out/fan-in workload: no-op members writing a result, and the callback that
    reads all of them (as Celery hands a chord's callback its members' results)."""
    if task.type == CALLBACK_TYPE:
        record_callback(len(await context.dependency_results()))
        return
    index, enqueued_at = json.loads(task.payload or b"[]")
    record(int(index), float(enqueued_at))
    await context.write_result(str(index).encode())


async def produce_fan_out(count: int, started: float) -> None:
    """One group of `count` members and its callback: `enqueue_workflow`."""
    members = [_task(index, started) for index in range(count)]
    async with AsyncClient.from_url(redis_url()) as client:
        await client.enqueue_workflow(group(members).then(Task(CALLBACK_TYPE)))


async def produce() -> None:
    async with AsyncClient.from_url(redis_url()) as client:

        async def enqueue_one(index: int, enqueued_at: float) -> None:
            await client.enqueue(_task(index, enqueued_at))

        async def enqueue_batch(items: Sequence[Item]) -> None:
            _check(await client.enqueue_many([_task(*item) for item in items]))

        async def pending() -> int:
            return int(await client.broker.client.llen(PENDING_KEY))

        await producer_main_async(enqueue_one, enqueue_batch, pending)


def produce_blocking() -> None:
    """The same producer on the blocking `Client` (one EVALSHA per call, no event loop)."""
    with Client.from_url(redis_url()) as client, redis.Redis.from_url(redis_url()) as conn:

        def enqueue_one(index: int, enqueued_at: float) -> None:
            client.enqueue(_task(index, enqueued_at))

        def enqueue_batch(items: Sequence[Item]) -> None:
            _check(client.enqueue_many([_task(*item) for item in items]))

        producer_main(enqueue_one, enqueue_batch, lambda: int(conn.llen(PENDING_KEY)))


def _check(results: Sequence[EnqueueResult]) -> None:
    failures = [result for result in results if isinstance(result, Exception)]
    if failures:
        raise RuntimeError(f"enqueue_many: {len(failures)} failed, first: {failures[0]}")


if __name__ == "__main__":
    if sys.argv[1:2] == [FAN_OUT]:
        fan_out_main(produce_fan_out)
    elif sys.argv[1:2] == [BLOCKING_CLIENT]:
        del sys.argv[1]
        produce_blocking()
    else:
        asyncio.run(produce())
