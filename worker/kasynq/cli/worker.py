"""`kasynq worker`: run a Server for the handler named by `package.module:attribute`."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import redis
import redis.asyncio

from kasynq.config import (
    EVENT_LOOPS,
    REDIS_CA_FILE_ENV,
    REDIS_CLUSTER_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    ConfigError,
    WorkerSettings,
    resolve,
)
from kasynq.connection import AsyncRedis, redis_from_url
from kasynq.processor import exit_if_sync_handlers_stuck
from kasynq.redaction import describe
from kasynq.scheduler import Scheduler, register_metrics
from kasynq.servemux import Handler
from kasynq.server import Server

log = logging.getLogger(__name__)


def load_handler(path: str) -> Handler:
    """Import `package.module:attribute`; the attribute must be a ServeMux or a callable.

    The current directory is on the import path first, as with Celery, RQ, arq and uvicorn, so
    `kasynq worker --handlers myapp.tasks:mux` works from the project's directory.
    """
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"handlers must look like package.module:attribute, got {path!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"cannot import handlers module {module_name!r}: {exc} (looked in the current "
            f"directory {cwd} and on sys.path; set PYTHONPATH for modules elsewhere)"
        ) from None
    except Exception as exc:
        raise ConfigError(
            f"cannot import handlers module {module_name!r}: {describe(exc)}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"handlers {path!r} is not callable: {type(target).__name__}")
    handler: Handler = target
    return handler


def run_worker(settings: WorkerSettings, handler: Handler, config_file: Path | None = None) -> None:
    """Build the Server from the settings and run it until SIGTERM/SIGINT.

    With `schedules`, a leader-elected Scheduler runs beside it (reloading `config_file`).
    Raises `ConfigError` when Redis refuses the credentials.
    """
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(_serve(settings, handler, config_file))
    exit_if_sync_handlers_stuck()


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop for `uvloop`, and for `auto` when uvloop is installed; else asyncio's.

    uvloop runs the worker's Redis round trips and task switches in C: about 10% more tasks/s
    per process in the drain benchmark (docs/benchmarks.md).
    """
    if event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if event_loop == "uvloop":
            raise ConfigError("event_loop=uvloop but uvloop is not installed") from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(settings: WorkerSettings, handler: Handler, config_file: Path | None) -> None:
    try:
        client = redis_from_url(settings.redis_url, **settings.redis_options())
    except ValueError as exc:  # the URL's form; its message masks the password
        raise ConfigError(f"redis_url is not usable: {describe(exc)}") from None
    try:
        await check_credentials(client, settings)
        server = Server(
            client,
            concurrency=settings.concurrency,
            queues=settings.queues,
            strict_priority=settings.strict,
            shutdown_timeout=settings.shutdown_timeout,
            http_port=settings.http_port,
        )
        if not settings.schedules:
            await server.serve(handler)
            return
        scheduler = Scheduler.from_url(settings.redis_url, settings.redis_options())
        scheduler.apply_schedules(settings.schedules)
        register_metrics(scheduler, server.metrics.registry)
        server.health_details = scheduler.health_details
        await scheduler.run_beside(server.serve(handler), config_file)
    finally:
        await client.aclose()


async def check_credentials(client: AsyncRedis, settings: WorkerSettings) -> None:
    """Fail fast on a wrong or missing password (a lasting error); an unreachable Redis is
    left to the server's retries, as it may come up after the worker."""
    try:
        await client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        raise ConfigError(
            f"Redis at {settings.masked_redis_url} refused the credentials: {exc}"
        ) from None
    except (redis.ConnectionError, redis.exceptions.RedisClusterException, OSError) as exc:
        log.warning(
            "redis not reachable at start url=%s error=%s", settings.masked_redis_url, describe(exc)
        )


@click.command("worker")
@click.option("--redis-url", envvar=REDIS_URL_ENV, help="Redis URL (env KASYNQ_REDIS_URL).")
@click.option(
    "--redis-password",
    envvar=REDIS_PASSWORD_ENV,
    help="Redis password, overriding the URL's (env KASYNQ_REDIS_PASSWORD).",
)
@click.option(
    "--redis-ca-file",
    envvar=REDIS_CA_FILE_ENV,
    help="CA bundle verifying a rediss:// server (env KASYNQ_REDIS_CA_FILE).",
)
@click.option(
    "--cluster",
    is_flag=True,
    default=None,
    envvar=REDIS_CLUSTER_ENV,
    help="The Redis URL names one node of a Redis Cluster (env KASYNQ_REDIS_CLUSTER).",
)
@click.option("--handlers", help="Handler to run, as package.module:attribute (a ServeMux).")
@click.option("--queues", help="Queues and priorities, e.g. critical=6,default=3.")
@click.option("--concurrency", type=int, help="Tasks processed at once (default 10).")
@click.option("--strict", is_flag=True, default=None, help="Strict priority order of queues.")
@click.option("--shutdown-timeout", type=float, help="Seconds to wait for tasks on shutdown.")
@click.option("--http-port", type=int, help="Port of /healthz, /readyz and /metrics.")
@click.option(
    "--event-loop",
    type=click.Choice(EVENT_LOOPS),
    help="auto (default: uvloop when installed), uvloop or asyncio.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file with the same keys (flags win).",
)
@click.option("--log-level", default="INFO", show_default=True, help="Python logging level.")
def worker(config_file: Path | None, log_level: str, **flags: Any) -> None:
    """Process tasks from asynq queues, side by side with Go asynq servers."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        settings = resolve(config_file, flags)
        handler = load_handler(settings.handlers)
        run_worker(settings, handler, config_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
