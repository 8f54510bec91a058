"""A kasynq Server configured like goasynq's `server` subcommand, for side-by-side tests.

    python -m tests.interop.pyserver (--redis URL | --cluster host:port,...) < config.json

The config JSON and the handler behaviours are those of tests/interop/cmd/goasynq/server.go
(concurrency, queues, strict, shutdown_timeout, retry_delay, not_failure, intervals, group
options, record_list, started_list, behaviours, default, mux_prefixes), and each handler
call is recorded in the same JSON form with `"server": "py"`, so a test can start either
implementation from one dict and read one log. Prints {"ready": true, "pid": N} once the
server runs; SIGTERM/SIGINT shut down gracefully and SIGTSTP stops fetching, as Go's
Server.Run does.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import sys
import time
from typing import Any

import redis.asyncio
from kasynq.connection import AsyncRedis, cluster_redis
from kasynq.context import TaskContext
from kasynq.retry import RevokeTask, SkipRetry, TaskCanceled, TaskDeadlineExceeded
from kasynq.servemux import Handler, ServeMux
from kasynq.server import Server
from kasynq.task import Task

LOG_LEVELS = {"debug": "DEBUG", "info": "INFO", "warn": "WARNING", "error": "ERROR"}
DURATION_SETTINGS = {
    "shutdown_timeout": "shutdown_timeout",
    "task_check_interval": "task_check_interval",
    "delayed_task_check_interval": "delayed_task_check_interval",
    "janitor_interval": "janitor_interval",
    "dependency_check_interval": "dependency_check_interval",
    "recoverer_interval": "recoverer_interval",
    "recoverer_grace": "recoverer_grace",
    "group_grace_period": "group_grace_period",
    "group_max_delay": "group_max_delay",
}


class RecordingHandler:
    """Runs the behaviour a task asks for and records each call like goasynq does."""

    def __init__(self, client: AsyncRedis, config: dict[str, Any]) -> None:
        self.client = client
        self.config = config

    def behaviour_for(self, task: Task) -> dict[str, Any]:
        try:
            wrapped = json.loads(task.payload or b"")
        except ValueError:
            wrapped = None
        if isinstance(wrapped, dict) and isinstance(wrapped.get("behaviour"), dict):
            return dict(wrapped["behaviour"])
        by_type = self.config.get("behaviours") or {}
        if task.type in by_type:
            return dict(by_type[task.type])
        return dict(self.config.get("default") or {})

    async def record(
        self, list_key: str | None, ctx: TaskContext, task: Task, outcome: str
    ) -> None:
        if not list_key:
            return
        event = {
            "server": "py",
            "id": ctx.task_id,
            "type": task.type,
            "queue": ctx.queue,
            "retried": ctx.retry_count,
            "max_retry": ctx.max_retry,
            "time": time.time(),
            "payload": base64.b64encode(task.payload or b"").decode() or None,
        }
        if outcome:
            event["outcome"] = outcome
        await self.client.rpush(list_key, json.dumps(event))

    async def __call__(self, ctx: TaskContext, task: Task) -> None:
        await self.record(self.config.get("started_list"), ctx, task, "")
        outcome = "ok"
        try:
            await self.run(ctx, task)
        except asyncio.CancelledError:
            outcome = "canceled" if isinstance(ctx.error(), TaskCanceled) else "deadline_exceeded"
            raise
        except RevokeTask:
            outcome = "revoked"
            raise
        except (TaskCanceled, TaskDeadlineExceeded) as exc:
            outcome = "canceled" if isinstance(exc, TaskCanceled) else "deadline_exceeded"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            await asyncio.shield(self.record(self.config.get("record_list"), ctx, task, outcome))

    async def run(self, ctx: TaskContext, task: Task) -> None:
        behaviour = self.behaviour_for(task)
        sleep_ms = int(behaviour.get("sleep_ms", 0))
        if sleep_ms > 0:
            await asyncio.sleep(sleep_ms / 1000)
        result = behaviour.get("result")
        if result:
            await ctx.write_result(base64.b64decode(result))
        if behaviour.get("panic"):
            raise RuntimeError("planned panic")
        if behaviour.get("revoke"):
            raise RevokeTask()
        message = behaviour.get("error") or "planned failure"
        if behaviour.get("skip_retry"):
            raise SkipRetry(message)
        fail_times = int(behaviour.get("fail_times", 0))
        if fail_times < 0 or ctx.retry_count < fail_times:
            raise RuntimeError(message)


def server_options(config: dict[str, Any]) -> dict[str, Any]:
    """kasynq Server options from goasynq's server config."""
    options: dict[str, Any] = {
        "concurrency": int(config.get("concurrency", 0)),
        "queues": dict(config.get("queues") or {}),
        "strict_priority": bool(config.get("strict", False)),
    }
    for json_name, option in DURATION_SETTINGS.items():
        if config.get(json_name):
            options[option] = float(config[json_name])
    if config.get("group_max_size"):
        options["group_max_size"] = int(config["group_max_size"])
    if config.get("retry_delay") is not None:
        delay = float(config["retry_delay"])
        options["retry_delay_func"] = lambda _n, _error, _task: delay
    if config.get("not_failure"):
        marker = str(config["not_failure"])
        options["is_failure"] = lambda error: marker not in str(error)
    if config.get("aggregate"):
        aggregated_type = config.get("aggregated_type") or "aggregated"

        def aggregate(group: str, tasks: list[Task]) -> Task:
            del group
            return Task(aggregated_type, b"\n".join(task.payload or b"" for task in tasks))

        options["group_aggregator"] = aggregate
    return options


async def serve(client: AsyncRedis, config: dict[str, Any]) -> None:
    server = Server(client, **server_options(config))
    handler: Handler = RecordingHandler(client, config)
    if config.get("mux_prefixes"):
        mux = ServeMux()
        for pattern in config["mux_prefixes"]:
            mux.handle(pattern, handler)
        handler = mux
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTSTP, lambda: asyncio.ensure_future(server.stop()))
    await server.start(handler)
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    await stop.wait()
    await server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--redis", help="Redis URL (standalone)")
    parser.add_argument("--cluster", help="comma-separated Redis Cluster host:port addresses")
    args = parser.parse_args()
    config = json.load(sys.stdin)
    logging.basicConfig(
        level=LOG_LEVELS[config.get("log_level", "warn")],
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.cluster:
        addresses = (address.rsplit(":", 1) for address in args.cluster.split(","))
        nodes = [(host, int(port)) for host, port in addresses]
        client: AsyncRedis = cluster_redis(nodes)
    else:
        client = redis.asyncio.Redis.from_url(args.redis)
    asyncio.run(serve(client, config))


if __name__ == "__main__":
    main()
