"""Handlers for worker processes started by the server tests (`kasynq worker --handlers`)."""

from __future__ import annotations

import asyncio
import time

from kasynq.context import TaskContext
from kasynq.retry import SkipRetry
from kasynq.servemux import ServeMux
from kasynq.task import Task

mux = ServeMux()


@mux.handler("hold")
async def hold(ctx: TaskContext, task: Task) -> None:
    """Holds its slot for the number of seconds in the payload (default: a minute)."""
    await asyncio.sleep(float(task.payload or b"60"))


not_a_handler = 42


@mux.handler("stubborn")
def stubborn(ctx: TaskContext, task: Task) -> None:
    """A sync handler that never looks at ctx.done(): shutdown must not wait for it."""
    time.sleep(120)


@mux.handler("fail")
async def fail(ctx: TaskContext, task: Task) -> None:
    """Always fails: retried while retries last, then archived (for alert tests)."""
    raise RuntimeError("planned failure")


@mux.handler("limited", rate="100/s")
async def limited(ctx: TaskContext, task: Task) -> None:
    """Rate-limited across processes; its result is the Unix time it started (rate tests)."""
    await ctx.result_writer.write(repr(time.time()).encode())


@mux.handler("chain:step")
async def chain_step(ctx: TaskContext, task: Task) -> None:
    """A step of the kill -9 chain test: its result is its ID, and it refuses to run (archived,
    never retried) unless every task it waited for completed and wrote its result."""
    for dependency in await ctx.dependency_results():
        if dependency.state != "completed" or dependency.result != dependency.task_id.encode():
            raise SkipRetry(f"ran before {dependency.task_id} completed: {dependency}")
    await ctx.write_result(ctx.task_id.encode())
