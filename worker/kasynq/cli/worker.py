"""`kasynq worker`: run a Server for the handler named by `package.module:attribute`."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
import redis
import redis.asyncio

from kasynq.cli.session import (
    NOT_A_CLUSTER,
    BadSetting,
    Session,
    is_db_out_of_range,
    with_tls,
)
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


def run_worker(
    settings: WorkerSettings,
    handler: Handler,
    config_file: Path | None = None,
    flags: Mapping[str, object] | None = None,
) -> None:
    """Build the Server from the settings and run it until SIGTERM/SIGINT.

    With `schedules`, a leader-elected Scheduler runs beside it (reloading `config_file`).
    SIGHUP re-resolves `config_file` and `flags` (see `reloader`).
    Raises `ConfigError` when Redis refuses the credentials.
    """
    with asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner:
        runner.run(_serve(settings, handler, config_file, flags or {}))
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


async def _serve(
    settings: WorkerSettings,
    handler: Handler,
    config_file: Path | None,
    flags: Mapping[str, object],
) -> None:
    try:
        client = redis_from_url(settings.redis_url, **settings.redis_options())
    except ValueError as exc:  # an unknown scheme, a sentinel URL without ?master=
        raise ConfigError(
            f"redis_url {settings.masked_redis_url} is not usable: {describe(exc)}"
        ) from None
    try:
        await check_credentials(client, settings)
        server = Server(
            client,
            concurrency=settings.concurrency,
            queues=settings.redis_queues,
            strict_priority=settings.strict,
            lanes=settings.lanes,
            shutdown_timeout=settings.shutdown_timeout,
            http_port=settings.http_port,
            http_host=settings.http_host,
            failure_log_level=settings.failure_log_level,
            metrics_max_task_types=settings.metrics_max_task_types,
        )
        if not settings.schedules:
            await server.serve(handler, reloader(settings, config_file, flags, server, None))
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
        reload = reloader(settings, config_file, flags, server, scheduler)
        await scheduler.run_beside(server.serve(handler, reload), config_file)
    finally:
        await client.aclose()


RELOADED_SETTINGS = frozenset({"log_level", "failure_log_level", "schedules"})
"""What SIGHUP applies to a running worker; other settings need a restart."""


def reloader(
    running: WorkerSettings,
    config_file: Path | None,
    flags: Mapping[str, object],
    server: Server,
    scheduler: Scheduler | None,
) -> Callable[[], None]:
    """The SIGHUP action: re-read `config_file` (flags still win) and apply RELOADED_SETTINGS.

    Running tasks are untouched. A file that does not resolve keeps the running settings; a
    changed setting outside RELOADED_SETTINGS is named (never its value) as needing a restart.
    """

    def reload() -> None:
        if config_file is None:
            log.info("SIGHUP received without --config, nothing to reload")
            return
        try:
            settings = resolve(config_file, flags)
        except ConfigError as exc:
            log.error(
                "config not reloaded, running settings kept path=%s error=%s", config_file, exc
            )
            return
        log.info(  # before the new level applies, so that lowering it still shows this line
            "config reloaded path=%s log_level=%s failure_log_level=%s schedules=%d",
            config_file,
            logging.getLevelName(settings.log_level),
            logging.getLevelName(settings.failure_log_level),
            len(settings.schedules),
        )
        logging.getLogger().setLevel(settings.log_level)
        server.set_failure_log_level(settings.failure_log_level)
        if scheduler is not None:
            scheduler.apply_schedules(settings.schedules)
        elif settings.schedules:
            log.warning("schedules added to a worker started without any: restart to run them")
        unapplied = sorted(
            item.name
            for item in fields(WorkerSettings)
            if item.name not in RELOADED_SETTINGS
            and getattr(settings, item.name) != getattr(running, item.name)
        )
        if unapplied:
            log.warning("config changes need a restart settings=%s", ",".join(unapplied))

    return reload


def scheduler_timings(settings: WorkerSettings) -> dict[str, float]:
    """The config's `scheduler:` timings as `Scheduler` arguments; `ConfigError` if bad."""
    try:
        return timing_settings(settings.scheduler)
    except ScheduleError as exc:
        raise ConfigError(str(exc)) from None


async def check_credentials(client: AsyncRedis, settings: WorkerSettings) -> None:
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
    except redis.exceptions.RedisClusterException as exc:
        if NOT_A_CLUSTER in str(exc):
            raise ConfigError(
                f"--cluster: {settings.masked_redis_url} is not a Redis Cluster node"
            ) from None
        log.warning(
            "redis not reachable at start url=%s error=%s", settings.masked_redis_url, describe(exc)
        )
    except (redis.ConnectionError, OSError) as exc:
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
@click.option(
    "--queue-prefix",
    help="Tenant prefix of the queues: acme makes them acme:<queue>, as the operator names them.",
)
@click.option("--concurrency", type=int, help="Tasks processed at once (default 10).")
@click.option("--strict", is_flag=True, default=None, help="Strict priority order of queues.")
@click.option(
    "--lanes", is_flag=True, default=None, help="Also serve the queues' priority lanes, in order."
)
@click.option("--shutdown-timeout", type=float, help="Seconds to wait for tasks on shutdown.")
@click.option("--http-port", type=int, help="Port of /healthz, /readyz and /metrics.")
@click.option("--http-host", help="Address the HTTP endpoint binds (default 0.0.0.0).")
@click.option(
    "--failure-log-level", help="Level of the line logged per failed task (default WARNING)."
)
@click.option(
    "--metrics-max-task-types",
    type=int,
    help="Distinct task_type metric labels; later types count as 'other' (default 1000).",
)
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
@click.option("--log-level", help="Python logging level (default INFO).")
@click.pass_obj
def worker(session: Session, /, config_file: Path | None, **flags: Any) -> None:
    """Process tasks from asynq queues, side by side with Go asynq servers.

    The global `--redis-url`, `--tls`, `--tls-ca-file` and `--cluster` apply unless the
    worker's own flags or its config file say otherwise. SIGTERM/SIGINT shut down gracefully,
    SIGTSTP stops fetching new tasks, SIGHUP reloads the config file's log_level,
    failure_log_level and schedules.
    """
    try:
        flags = with_globals(session, flags)
        settings = resolve(config_file, flags)
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        if session.tls:
            settings.redis_url = with_tls(settings.redis_url)
        scheduler_timings(settings)  # a bad scheduler block fails before anything starts
        handler = load_handler(settings.handlers)
        run_worker(settings, handler, config_file, flags)
    except ConfigError as exc:
        raise BadSetting(str(exc)) from None


def with_globals(session: Session, flags: dict[str, Any]) -> dict[str, Any]:
    """The worker's flags, with the global options filling those not given."""
    inherited = {
        "redis_url": session.redis_url,
        "redis_ca_file": session.tls_ca_file,
        "cluster": session.cluster or None,
    }
    return {**flags, **{name: value for name, value in inherited.items() if flags[name] is None}}
