"""`kasynq worker`: run a Server for the handler named by `package.module:attribute`."""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from typing import Any

import click

from kasynq.config import REDIS_URL_ENV, ConfigError, WorkerSettings, resolve
from kasynq.scheduler import Scheduler, register_metrics
from kasynq.servemux import Handler
from kasynq.server import Server

log = logging.getLogger(__name__)


def load_handler(path: str) -> Handler:
    """Import `package.module:attribute`; the attribute must be a ServeMux or a callable."""
    module_name, sep, attribute = path.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"handlers must look like package.module:attribute, got {path!r}")
    try:
        module = importlib.import_module(module_name)
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
    """
    server = Server(
        settings.redis_url,
        concurrency=settings.concurrency,
        queues=settings.queues,
        strict_priority=settings.strict,
        shutdown_timeout=settings.shutdown_timeout,
        http_port=settings.http_port,
    )
    if settings.schedules:
        scheduler = Scheduler.from_url(settings.redis_url)
        scheduler.apply_schedules(settings.schedules)
        register_metrics(scheduler, server.metrics.registry)
        server.health_details = scheduler.health_details
        asyncio.run(scheduler.run_beside(server.serve(handler), config_file))
        return
    server.run(handler)


@click.command("worker")
@click.option("--redis-url", envvar=REDIS_URL_ENV, help="Redis URL (env KASYNQ_REDIS_URL).")
@click.option("--handlers", help="Handler to run, as package.module:attribute (a ServeMux).")
@click.option("--queues", help="Queues and priorities, e.g. critical=6,default=3.")
@click.option("--concurrency", type=int, help="Tasks processed at once (default 10).")
@click.option("--strict", is_flag=True, default=None, help="Strict priority order of queues.")
@click.option("--shutdown-timeout", type=float, help="Seconds to wait for tasks on shutdown.")
@click.option("--http-port", type=int, help="Port of /healthz, /readyz and /metrics.")
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
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    run_worker(settings, handler, config_file)
