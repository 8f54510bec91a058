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

from kasynq.cli.session import BadSetting, Session, is_db_out_of_range, with_tls
from kasynq.config import (
    EVENT_LOOPS,
    REDIS_CA_FILE_ENV,
    REDIS_PASSWORD_ENV,
    REDIS_URL_ENV,
    ConfigError,
    WorkerSettings,
    resolve,
)
from kasynq.connection import redis_from_url
from kasynq.processor import exit_if_sync_handlers_stuck
from kasynq.scheduler import ScheduleError, Scheduler, register_metrics, timing_settings
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
        raise ConfigError(f"cannot import handlers module {module_name!r}: {exc!r}") from None
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
    except ValueError as exc:  # an unknown scheme, a sentinel URL without ?master=
        raise ConfigError(f"redis_url {settings.masked_redis_url}: {exc}") from None
    try:
        await check_credentials(client, settings)
        server = Server(
            client,
            concurrency=settings.concurrency,
            queues=settings.redis_queues,
            strict_priority=settings.strict,
            shutdown_timeout=settings.shutdown_timeout,
            http_port=settings.http_port,
        )
        if not settings.schedules:
            await server.serve(handler)
            return
        scheduler = Scheduler.from_url(
            settings.redis_url,
            settings.redis_options(),
            queue_prefix=settings.queue_prefix,
            **scheduler_timings(settings),
        )
        scheduler.apply_schedules(settings.schedules)
        register_metrics(scheduler, server.metrics.registry)
        server.health_details = scheduler.health_details
        await scheduler.run_beside(server.serve(handler), config_file)
    finally:
        await client.aclose()


def scheduler_timings(settings: WorkerSettings) -> dict[str, float]:
    """The config's `scheduler:` timings as `Scheduler` arguments; `ConfigError` if bad."""
    try:
        return timing_settings(settings.scheduler)
    except ScheduleError as exc:
        raise ConfigError(str(exc)) from None


async def check_credentials(client: redis.asyncio.Redis, settings: WorkerSettings) -> None:
    """Fail fast on a wrong or missing password (a lasting error); an unreachable Redis is
    left to the server's retries, as it may come up after the worker."""
    try:
        await client.ping()
    except (redis.AuthenticationError, redis.ResponseError) as exc:
        where = settings.masked_redis_url
        db_missing = isinstance(exc, redis.ResponseError) and is_db_out_of_range(exc)
        problem = (
            f"redis_url {where}" if db_missing else f"Redis at {where} refused the credentials"
        )
        raise ConfigError(f"{problem}: {exc}") from None
    except (redis.ConnectionError, OSError) as exc:
        log.warning("redis not reachable at start url=%s error=%r", settings.masked_redis_url, exc)


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
@click.option("--handlers", help="Handler to run, as package.module:attribute (a ServeMux).")
@click.option("--queues", help="Queues and priorities, e.g. critical=6,default=3.")
@click.option(
    "--queue-prefix",
    help="Tenant prefix of the queues: acme makes them acme:<queue>, as the operator names them.",
)
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
@click.pass_obj
def worker(session: Session, /, config_file: Path | None, log_level: str, **flags: Any) -> None:
    """Process tasks from asynq queues, side by side with Go asynq servers.

    The global `--redis-url`, `--tls` and `--tls-ca-file` apply unless the worker's own flags
    or its config file say otherwise.
    """
    try:
        level = log_level_number(log_level)
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
        settings = resolve(config_file, with_globals(session, flags))
        if session.tls:
            settings.redis_url = with_tls(settings.redis_url)
        scheduler_timings(settings)  # a bad scheduler block fails before anything starts
        handler = load_handler(settings.handlers)
        run_worker(settings, handler, config_file)
    except ConfigError as exc:
        raise BadSetting(str(exc)) from None


def log_level_number(name: str) -> int:
    """The `logging` level called `name` (any case); `ConfigError` names a bad one."""
    level = logging.getLevelNamesMapping().get(name.upper())
    if level is None:
        choices = ", ".join(sorted(logging.getLevelNamesMapping()))
        raise ConfigError(f"log_level must be one of {choices}: log_level={name!r}")
    return level


def with_globals(session: Session, flags: dict[str, Any]) -> dict[str, Any]:
    """The worker's flags, with the global options filling those not given."""
    if session.cluster:
        raise ConfigError("--cluster: kasynq worker does not run on Redis Cluster")
    inherited = {"redis_url": session.redis_url, "redis_ca_file": session.tls_ca_file}
    return {**flags, **{name: value for name, value in inherited.items() if flags[name] is None}}
