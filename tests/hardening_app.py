"""Handlers that misbehave, for the worker-hardening tests (`kasynq worker --handlers`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from kasynq.context import TaskContext
from kasynq.servemux import ServeMux
from kasynq.task import Task

mux = ServeMux()


@mux.handler("exit")
def exits(ctx: TaskContext, task: Task) -> None:
    """A sync handler calling sys.exit, as a script turned into a handler does."""
    sys.exit(3)


@mux.handler("argparse")
def parses_arguments(ctx: TaskContext, task: Task) -> None:
    """argparse raises SystemExit(2) on bad input."""
    parser = argparse.ArgumentParser(prog="job")
    parser.add_argument("--count", type=int, required=True)
    parser.parse_args(task.payload.decode().split())


@mux.handler("interrupt")
async def interrupts(ctx: TaskContext, task: Task) -> None:
    raise KeyboardInterrupt("stop here")


@mux.handler("cancel-self")
async def cancels_itself(ctx: TaskContext, task: Task) -> None:
    """Raises CancelledError although nobody cancelled it (e.g. leaked from a library)."""
    raise asyncio.CancelledError("library gave up")


@mux.handler("fail")
async def fails(ctx: TaskContext, task: Task) -> None:
    raise RuntimeError(f"boom {task.payload.decode()}")


@mux.handler("ok")
async def succeeds(ctx: TaskContext, task: Task) -> None:
    return None


@mux.handler("block-loop")
async def blocks_the_loop(ctx: TaskContext, task: Task) -> None:
    """Calls blocking code from an async handler."""
    time.sleep(2.5)  # noqa: ASYNC251 - the misbehaviour under test


@mux.handler("hold")
async def hold(ctx: TaskContext, task: Task) -> None:
    """Holds its slot for the number of seconds in the payload (default: a minute)."""
    await asyncio.sleep(float(task.payload or b"60"))


@mux.handler("ignore-deadline")
def ignores_its_deadline(ctx: TaskContext, task: Task) -> None:
    """A sync handler that never looks at ctx.done()."""
    time.sleep(float(task.payload or b"3"))
