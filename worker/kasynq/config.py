"""Settings of `kasynq worker`: defaults, then a YAML file, then flags (or their environment
variables `KASYNQ_REDIS_URL`, `KASYNQ_REDIS_PASSWORD`, `KASYNQ_REDIS_CA_FILE`,
`KASYNQ_REDIS_CLUSTER`).

The YAML file uses the flag names with underscores:

    redis_url: redis://redis:6379/0
    redis_password: s3cret                # overrides a password in the URL
    redis_ca_file: /etc/kasynq/redis/ca.crt   # CA bundle verifying a rediss:// server
    cluster: false                        # true: redis_url names one node of a Redis Cluster
    handlers: myapp.tasks:mux
    queues: {critical: 6, default: 3}     # or "critical=6,default=3"
    queue_prefix: acme                    # the queues are acme:critical, acme:default
    concurrency: 10
    strict: false
    lanes: false                          # also serve each queue's priority lanes <q>.high, <q>.low
    shutdown_timeout: 25
    http_port: 8080
    http_host: 0.0.0.0                    # address of /healthz, /readyz, /metrics
    log_level: INFO                       # reloaded on SIGHUP
    failure_log_level: WARNING            # level of the line per failed task; reloaded on SIGHUP
    metrics_max_task_types: 1000          # task_type label values; later types count as other
    event_loop: auto                      # auto (uvloop when installed), uvloop or asyncio
    schedules: [...]                      # read by the scheduler, passed through untouched
    scheduler: {misfire_grace: 30s}       # scheduler timings (docs/scheduler.md), ditto

SIGHUP re-reads the file: `log_level`, `failure_log_level` and `schedules` apply at once, other
changed settings are logged as needing a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from kasynq import keys
from kasynq.metrics import DEFAULT_MAX_TASK_TYPES
from kasynq.redaction import masked_url

REDIS_URL_ENV = "KASYNQ_REDIS_URL"
REDIS_PASSWORD_ENV = "KASYNQ_REDIS_PASSWORD"
REDIS_CA_FILE_ENV = "KASYNQ_REDIS_CA_FILE"
REDIS_CLUSTER_ENV = "KASYNQ_REDIS_CLUSTER"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


class ConfigError(ValueError):
    """A setting has a bad value; the message names the setting and the value."""


@dataclass
class WorkerSettings:
    redis_url: str = DEFAULT_REDIS_URL
    redis_password: str = ""
    redis_ca_file: str = ""
    cluster: bool = False
    """`redis_url` names one node of a Redis Cluster (as does `?cluster=true` in the URL)."""
    handlers: str = ""
    queues: dict[str, int] = field(default_factory=lambda: {"default": 1})
    queue_prefix: str = ""
    concurrency: int = 10
    strict: bool = False
    lanes: bool = False
    """Serve each queue's priority lanes too (wire-protocol.md §15)."""
    shutdown_timeout: float = 8.0
    http_port: int | None = None
    http_host: str = "0.0.0.0"
    log_level: int = logging.INFO
    failure_log_level: int = logging.WARNING
    metrics_max_task_types: int = DEFAULT_MAX_TASK_TYPES
    event_loop: str = "auto"
    schedules: list[Any] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=dict)

    def redis_options(self) -> dict[str, Any]:
        """Keyword arguments of `connection.redis_from_url`: password, CA file, Cluster."""
        options = {
            "password": self.redis_password,
            "ssl_ca_certs": self.redis_ca_file,
            "cluster": self.cluster,
        }
        return {name: value for name, value in options.items() if value}

    @property
    def redis_queues(self) -> dict[str, int]:
        """`queues` by their Redis names: under `queue_prefix` when one is set."""
        return {keys.prefixed_queue(self.queue_prefix, q): p for q, p in self.queues.items()}

    @property
    def masked_redis_url(self) -> str:
        """The Redis URL fit for logs and errors: any password in it replaced by `***`."""
        return masked_url(self.redis_url)


SETTING_NAMES = frozenset(item.name for item in fields(WorkerSettings))


def parse_queues(value: object) -> dict[str, int]:
    """`"critical=6,default=3"` or a mapping → {queue: priority}; priorities are integers >= 1."""
    if isinstance(value, str):
        pairs: list[tuple[str, object]] = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            queue, sep, weight = item.partition("=")
            pairs.append((queue.strip(), weight.strip() if sep else "1"))
    elif isinstance(value, Mapping):
        pairs = [(str(key), priority) for key, priority in value.items()]
    else:
        raise ConfigError(f"queues must be 'name=priority,...' or a mapping: queues={value!r}")
    queues: dict[str, int] = {}
    for name, priority in pairs:
        if not name:
            raise ConfigError(f"queues: blank queue name: queues={value!r}")
        try:
            number = int(str(priority))
        except ValueError:
            raise ConfigError(
                f"queues: priority of {name!r} must be an integer: {priority!r}"
            ) from None
        if number < 1:
            raise ConfigError(f"queues: priority of {name!r} must be >= 1: {number}")
        queues[name] = number
    if not queues:
        raise ConfigError(f"queues: no queue given: queues={value!r}")
    return queues


def _typed(name: str, value: object) -> object:
    converters: dict[str, Any] = {
        "redis_url": str,
        "redis_password": str,
        "redis_ca_file": str,
        "handlers": str,
        "queues": parse_queues,
        "queue_prefix": _queue_prefix,
        "concurrency": int,
        "shutdown_timeout": float,
        "http_port": int,
        "http_host": _host,
        "log_level": lambda value: log_level("log_level", value),
        "failure_log_level": lambda value: log_level("failure_log_level", value),
        "metrics_max_task_types": int,
        "strict": _boolean,
        "lanes": _boolean,
        "cluster": _boolean,
        "event_loop": _event_loop,
    }
    if name == "schedules":
        if not isinstance(value, list):
            raise ConfigError(f"schedules must be a list: schedules={value!r}")
        return value
    if name == "scheduler":
        if not isinstance(value, dict):
            raise ConfigError(f"scheduler must be a mapping: scheduler={value!r}")
        return value
    try:
        converted = converters[name](value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{name} has a bad value: {name}={value!r}") from None
    positive = name in ("concurrency", "metrics_max_task_types")
    if positive and isinstance(converted, int) and converted < 1:
        raise ConfigError(f"{name} must be >= 1: {name}={value!r}")
    return converted


def log_level(name: str, value: object) -> int:
    """A logging level given as a name (`warning`, any case) or a number; ConfigError else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    levels = logging.getLevelNamesMapping()
    level = levels.get(str(value).upper())
    if level is None:
        choices = ", ".join(sorted(levels))
        raise ConfigError(f"{name} must be a logging level, one of {choices}: {name}={value!r}")
    return level


def _queue_prefix(value: object) -> str:
    try:
        return keys.checked_queue_prefix("" if value is None else str(value))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _event_loop(value: object) -> str:
    if value not in EVENT_LOOPS:
        choices = ", ".join(EVENT_LOOPS)
        raise ConfigError(f"event_loop must be one of {choices}: event_loop={value!r}")
    return str(value)


def _host(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(value)
    return value.strip()


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(value)


def load_file(path: Path) -> dict[str, object]:
    """The settings in a YAML file; unknown keys are an error naming them."""
    try:
        data = yaml.safe_load(path.read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {data!r}")
    unknown = set(data) - SETTING_NAMES
    if unknown:
        raise ConfigError(
            f"unknown key(s) in {str(path)!r}: {', '.join(sorted(map(str, unknown)))}"
        )
    return data


def resolve(config_file: Path | None, flags: Mapping[str, object]) -> WorkerSettings:
    """Defaults < config file < flags (the CLI reads the `KASYNQ_REDIS_*` variables as flags)."""
    merged: dict[str, object] = {}
    if config_file is not None:
        merged.update(load_file(config_file))
    merged.update({name: value for name, value in flags.items() if value is not None})
    settings = WorkerSettings()
    for name, value in merged.items():
        setattr(settings, name, _typed(name, value))
    if settings.redis_ca_file and not Path(settings.redis_ca_file).is_file():
        raise ConfigError(f"redis_ca_file is not a readable file: {settings.redis_ca_file!r}")
    if not settings.handlers:
        raise ConfigError("handlers is required: give --handlers package.module:attribute")
    return settings
