"""Helpers of the server tests: enqueue raw messages, wait for conditions, read Redis state."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import redis.exceptions
from kasynq import keys
from kasynq.broker import Broker
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.server import Server

FAST = {
    "task_check_interval": 0.1,
    "delayed_task_check_interval": 0.1,
    "recoverer_interval": 0.2,
    "recoverer_grace": 0,
    "shutdown_timeout": 1.0,
    "retry_delay_func": lambda retried, error, task: 0,
}
"""Server options for tests: short intervals, immediate retries (leases stay Go's 30 s)."""


def message(
    task_type: str = "test:task",
    payload: bytes = b"",
    queue: str = "default",
    **fields: Any,
) -> TaskMessage:
    """A TaskMessage with the Go client's defaults (retry 25, timeout 30 min, UUID id)."""
    values: dict[str, Any] = {
        "type": task_type,
        "payload": payload,
        "id": str(uuid.uuid4()),
        "queue": queue,
        "retry": 25,
        "timeout": 1800,
    }
    values.update(fields)
    return TaskMessage(**values)


async def start_server(servers: list[Server], client: Any, handler: Any, **options: Any) -> Server:
    """A server with the FAST options (overridden by `options`), noted in the `servers` fixture."""
    server = Server(client, **{**FAST, **options})
    servers.append(server)
    await server.start(handler)
    return server


async def enqueue(broker: Broker, count: int = 1, **kwargs: Any) -> list[TaskMessage]:
    messages = [message(**kwargs) for _ in range(count)]
    for msg in messages:
        await broker.enqueue(msg)
    return messages


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    within: float = 10.0,
    what: str = "condition",
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
        except redis.exceptions.ConnectionError:
            result = False  # e.g. a pooled connection dropped by a Redis restart
        if result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def task_state(client: redis.asyncio.Redis, queue: str, task_id: str) -> dict[str, Any]:
    """The task hash, with `msg` decoded."""
    raw = await client.hgetall(keys.task_key(queue, task_id))
    state: dict[str, Any] = {key.decode(): value for key, value in raw.items()}
    if "msg" in state:
        state["msg"] = TaskMessage.FromString(state["msg"])
    if "state" in state:
        state["state"] = state["state"].decode()
    return state


async def queue_sizes(client: redis.asyncio.Redis, queue: str = "default") -> dict[str, int]:
    return {
        "pending": await client.llen(keys.pending_key(queue)),
        "active": await client.llen(keys.active_key(queue)),
        "lease": await client.zcard(keys.lease_key(queue)),
        "retry": await client.zcard(keys.retry_key(queue)),
        "archived": await client.zcard(keys.archived_key(queue)),
        "completed": await client.zcard(keys.completed_key(queue)),
        "scheduled": await client.zcard(keys.scheduled_key(queue)),
    }
