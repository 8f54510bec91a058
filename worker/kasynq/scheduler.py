"""Cron scheduler: asynq's Scheduler, leader-elected so each tick fires exactly once per group.

Every replica runs a `Scheduler` with the same entries; the group's leader (see `leader`)
fires them. A tick's task ID is derived from (group, entry, tick time) and the tick script
records the tick beside a fence in Redis (see `broker.scheduling`), so a second leader, a
restarted one or a deposed one firing the same tick is suppressed and counted.

Entry IDs are derived from the group and the registration (spec, type, payload, headers,
options), so all replicas and restarts agree on them: Go's Inspector and `asynq cron
history` see one entry with one history. The leader publishes the entries in Go's format
(`asynq:schedulers`, wire-protocol.md §9.2) at once and every heartbeat; standbys publish nothing.

Divergences from Go's Scheduler, on purpose: `@every` ticks are anchored at the Unix epoch
(not at the start time) so replicas agree on tick instants; histories are kept on shutdown
(entry IDs are stable, so they stay meaningful); ticks missed while no leader fired (failover,
Redis outage, a stalled loop) are fired late when within `misfire_grace` (default: the
entry's interval, but at least twice the failover time, so that a failover loses no tick;
0 = skip, as asynq) and skipped otherwise, logged either way. Go fires a
late tick once; here a tick up to `LATENESS_TOLERANCE` late always fires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Unpack, cast

import yaml
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from kasynq import cron, keys
from kasynq.broker.core import Broker
from kasynq.broker.scheduling import Created, FireStatus, LeaderLock, TickStore
from kasynq.client import prepare
from kasynq.connection import AsyncRedis, redis_from_url
from kasynq.errors import BrokerError
from kasynq.goformat import format_timedelta, format_unix_date, go_quote, parse_go_duration
from kasynq.leader import (
    DEFAULT_LOCK_RETRY_SECONDS,
    DEFAULT_LOCK_TTL_SECONDS,
    LeaderElector,
    Role,
    wait_event,
)
from kasynq.periodic import STOP_TIMEOUT_SECONDS, cancel_and_wait
from kasynq.proto.asynq_pb2 import SchedulerEnqueueEvent, SchedulerEntry
from kasynq.redaction import describe
from kasynq.task import OptionArgs, Task, TaskOptions, options

log = logging.getLogger(__name__)

DEFAULT_GROUP = "default"
GROUP_ENV = "KASYNQ_SCHEDULER_GROUP"
POOL_ENV = "KASYNQ_POOL"
DEFAULT_HEARTBEAT_SECONDS = 10.0
LATENESS_TOLERANCE = 1.0
"""A tick this late (s) is a slow wake-up, not a misfire: it fires whatever the grace."""
MAX_IDLE_SECONDS = 1.0
ERROR_BACKOFF_SECONDS = 0.5
RELOAD_INTERVAL_SECONDS = 2.0
SKIPPED_COUNT_LIMIT = 10_000
GO_ZERO_TIME = Timestamp(seconds=-62135596800, nanos=0)
_ENTRY_NAMESPACE = uuid.UUID("6f1d9b5e-3c1a-4f8e-9a57-0c9b1f4e2d11")


class ScheduleError(ValueError):
    """A schedule entry is invalid; the message names the entry and the field."""


@dataclass(frozen=True)
class SchedulerStatus:
    """What /healthz and metrics report about the scheduler."""

    group: str
    scheduler_id: str
    role: Role
    fencing_token: int
    entries: int
    ticks_fired: int
    duplicates_suppressed: int
    ticks_skipped: int

    def as_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "scheduler_id": self.scheduler_id,
            "role": str(self.role),
            "fencing_token": self.fencing_token,
            "entries": self.entries,
            "ticks_fired": self.ticks_fired,
            "duplicates_suppressed": self.duplicates_suppressed,
            "ticks_skipped": self.ticks_skipped,
        }


# --- entries -------------------------------------------------------------------------------

_OPTION_STRINGS: dict[str, Callable[[Any], str]] = {
    "queue": lambda value: f"Queue({go_quote(value)})",
    "max_retry": lambda value: f"MaxRetry({value})",
    "timeout": lambda value: f"Timeout({format_timedelta(value)})",
    "deadline": lambda value: f"Deadline({format_unix_date(value)})",
    "unique": lambda value: f"Unique({format_timedelta(value)})",
    "process_at": lambda value: f"ProcessAt({format_unix_date(value)})",
    "process_in": lambda value: f"ProcessIn({format_timedelta(value)})",
    "retention": lambda value: f"Retention({format_timedelta(value)})",
    "group": lambda value: f"Group({go_quote(value)})",
}


def option_strings(given: Iterable[str], opts: TaskOptions) -> tuple[str, ...]:
    """Go's `Option.String()` of each registration option, in order (wire-protocol.md §9.5)."""
    return tuple(_OPTION_STRINGS[name](getattr(opts, name)) for name in given)


@dataclass(frozen=True)
class Entry:
    """One registered schedule."""

    id: str
    spec: str
    schedule: cron.SpecSchedule | cron.EverySchedule
    task: Task
    overrides: TaskOptions
    enqueue_options: tuple[str, ...]
    name: str

    @property
    def queue(self) -> str:
        queue = self.task.options.overridden_by(self.overrides).queue
        return queue if queue is not None else keys.DEFAULT_QUEUE


def _entry_id(group: str, spec: str, task: Task, enqueue_options: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for part in (group, spec, task.type, *enqueue_options, *sorted(task.headers.items())):
        digest.update(repr(part).encode())
        digest.update(b"\0")
    digest.update(task.payload if task.payload is not None else b"\0nil")
    return str(uuid.uuid5(_ENTRY_NAMESPACE, digest.hexdigest()))


def make_entry(
    scheduler_group: str,
    cronspec: str,
    task: Task,
    name: str | None = None,
    /,
    **opts: Unpack[OptionArgs],
) -> Entry:
    """Validate a registration; `ScheduleError` names the entry and the bad field."""
    label = name or cronspec
    try:
        schedule = cron.parse(cronspec)
    except cron.CronError as exc:
        raise ScheduleError(f"schedule entry {label!r}: cron: {exc}") from None
    if "task_id" in opts or task.options.task_id is not None:
        raise ScheduleError(
            f"schedule entry {label!r}: task_id: not allowed, the scheduler derives one per tick"
        )
    if "priority" in opts or task.options.priority is not None:
        raise ScheduleError(
            f"schedule entry {label!r}: priority: not allowed, name the lane queue "
            "(queue='<queue>.high' or '<queue>.low', wire-protocol.md §15)"
        )
    try:
        overrides = options(**opts)
    except (TypeError, ValueError) as exc:
        raise ScheduleError(f"schedule entry {label!r}: options: {exc}") from None
    given = [name for name, value in opts.items() if value is not None]
    enqueue_options = option_strings(given, overrides)
    return Entry(
        _entry_id(scheduler_group, cronspec, task, enqueue_options),
        cronspec,
        schedule,
        task,
        overrides,
        enqueue_options,
        label,
    )


# --- entries from YAML ---------------------------------------------------------------------

_YAML_FIELDS = frozenset(
    {"name", "cron", "type", "payload", "payload_base64", "headers", "options"}
)
_YAML_DURATIONS = frozenset({"timeout", "unique", "process_in", "retention"})
_YAML_TIMES = frozenset({"deadline", "process_at"})


@dataclass(frozen=True)
class EntryConfig:
    """One item of the worker config's `schedules:` list, validated."""

    name: str
    cron: str
    task: Task
    options: dict[str, Any]


def _yaml_option(label: str, option: str, value: object) -> object:
    where = f"schedule entry {label!r}: options.{option}"
    if option in _YAML_DURATIONS and isinstance(value, str):
        try:
            return timedelta(microseconds=parse_go_duration(value) // 1000)
        except ValueError as exc:
            raise ScheduleError(f"{where}: {exc}") from None
    if option in _YAML_TIMES:
        when = value if isinstance(value, datetime) else None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(value)
        if when is None or when.tzinfo is None:
            raise ScheduleError(f"{where}: want an ISO 8601 time with a zone, got {value!r}")
        return when
    return value


def _yaml_payload(label: str, item: Mapping[str, Any]) -> bytes | None:
    if "payload" in item and "payload_base64" in item:
        raise ScheduleError(f"schedule entry {label!r}: payload: give payload or payload_base64")
    if "payload_base64" in item:
        encoded = item["payload_base64"]
        try:
            return base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            raise ScheduleError(
                f"schedule entry {label!r}: payload_base64: not base64: {encoded!r}"
            ) from None
    if "payload" in item:
        return json.dumps(item["payload"], separators=(",", ":")).encode()
    return None


def parse_entry_config(index: int, item: object) -> EntryConfig:
    """Validate `schedules[index]`: cron, type, payload (JSON) or payload_base64, options."""
    if not isinstance(item, Mapping):
        raise ScheduleError(f"schedules[{index}]: want a mapping, got {item!r}")
    label = str(item.get("name") or f"schedules[{index}]")
    unknown = sorted(set(map(str, item)) - _YAML_FIELDS)
    if unknown:
        raise ScheduleError(f"schedule entry {label!r}: unknown field(s): {', '.join(unknown)}")
    for required in ("cron", "type"):
        if not isinstance(item.get(required), str) or not item[required].strip():
            raise ScheduleError(
                f"schedule entry {label!r}: {required}: required string, got {item.get(required)!r}"
            )
    raw_options = item.get("options") or {}
    if not isinstance(raw_options, Mapping):
        raise ScheduleError(f"schedule entry {label!r}: options: want a mapping")
    try:
        task = Task(item["type"], _yaml_payload(label, item), item.get("headers"))
    except ValueError as exc:
        raise ScheduleError(f"schedule entry {label!r}: {exc}") from None
    opts = {str(key): _yaml_option(label, str(key), value) for key, value in raw_options.items()}
    return EntryConfig(label, item["cron"], task, opts)


TIMING_SETTINGS = ("misfire_grace", "lock_ttl", "lock_retry_interval")
"""Keys of the worker config's `scheduler:` block: `Scheduler` keyword arguments, in s."""


def timing_settings(block: object) -> dict[str, float]:
    """The `scheduler:` block of a worker config as `Scheduler` keyword arguments.

    Values are seconds or Go duration text (`30s`, `1m30s`); `ScheduleError` names a bad key
    or value as `scheduler.<key>`.
    """
    if not isinstance(block, Mapping):
        raise ScheduleError(f"scheduler: want a mapping, got {block!r}")
    unknown = sorted(set(map(str, block)) - set(TIMING_SETTINGS))
    if unknown:
        known = ", ".join(TIMING_SETTINGS)
        raise ScheduleError(f"scheduler: unknown key(s) {', '.join(unknown)} (known: {known})")
    settings: dict[str, float] = {}
    for name, value in block.items():
        seconds: float | None = None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                seconds = parse_go_duration(value) / 1e9
        elif isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        if seconds is None or seconds < 0 or not math.isfinite(seconds):
            raise ScheduleError(
                f"scheduler.{name}: want seconds or a Go duration >= 0, got {value!r}"
            )
        settings[str(name)] = seconds
    return settings


def load_schedules(path: Path) -> list[object]:
    """The `schedules:` list of a worker config file (a missing key is an empty list)."""
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    if not isinstance(data, Mapping):
        raise ScheduleError(f"{path}: want a mapping with a schedules list")
    schedules = data.get("schedules") or []
    if not isinstance(schedules, list):
        raise ScheduleError(f"{path}: schedules: want a list, got {schedules!r}")
    return schedules


# --- the scheduler -------------------------------------------------------------------------


@dataclass
class _EntryState:
    next_tick: int | None = None
    last_fired: int | None = None


@dataclass
class _Counters:
    fired: int = 0
    duplicates: int = 0
    skipped: int = 0


@dataclass
class _Loaded:
    """Entries registered from the config file, by entry ID."""

    ids: set[str] = field(default_factory=set)
    digest: str = ""


class Scheduler:
    """Leader-elected cron scheduler of one group; `run()` until cancelled or `shutdown()`."""

    def __init__(
        self,
        redis: AsyncRedis,
        *,
        group: str = DEFAULT_GROUP,
        location: tzinfo = UTC,
        lock_ttl: float = DEFAULT_LOCK_TTL_SECONDS,
        lock_retry_interval: float = DEFAULT_LOCK_RETRY_SECONDS,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_SECONDS,
        misfire_grace: float | None = None,
        queue_prefix: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Timings in seconds. `misfire_grace`: fire missed ticks this old (None = one interval,
        at least twice `lock_ttl + lock_retry_interval`; 0 = skip them). `lock_ttl`: a dead
        leader's lock expires after this long; `lock_retry_interval`: how often standbys try to
        take it. A standby leads at the latest `lock_ttl + lock_retry_interval` after the
        leader's death. `queue_prefix` puts the entries' queues under `<queue_prefix>:`."""
        if not group or "{" in group or "}" in group:
            raise ValueError(f"group must be a non-empty name without braces: group={group!r}")
        if misfire_grace is not None and misfire_grace < 0:
            raise ValueError(f"misfire_grace must not be negative: misfire_grace={misfire_grace}")
        self.group = group
        self.id = f"{socket.gethostname() or 'unknown-host'}:{os.getpid()}:{uuid.uuid4()}"
        self._owns_client = False
        self._broker = Broker(redis)
        self._ticks = TickStore(self._broker, group)
        self._location = location
        self._heartbeat_interval = heartbeat_interval if heartbeat_interval > 0 else 10.0
        self._misfire_grace = misfire_grace
        self._clock = clock
        self._entries: dict[str, Entry] = {}
        self._states: dict[str, _EntryState] = {}
        self._counters = _Counters()
        self._listeners: list[Callable[[SchedulerStatus], None]] = []
        self._changed = asyncio.Event()
        self._loaded = _Loaded()
        self._queue_prefix = keys.checked_queue_prefix(queue_prefix)
        self.elector = LeaderElector(
            LeaderLock(redis, group, self.id),
            group,
            ttl=lock_ttl,
            retry_interval=lock_retry_interval,
            on_elected=self._on_elected,
            on_deposed=self._on_deposed,
        )

    @classmethod
    def from_url(
        cls, url: str, redis_options: Mapping[str, Any] | None = None, **settings: Any
    ) -> Scheduler:
        """A scheduler on its own connection to `url` (closed when `run()` ends);
        `redis_options` (e.g. password, ssl_ca_certs) go to `connection.redis_from_url`.

        Without `group`: $KASYNQ_SCHEDULER_GROUP, else $KASYNQ_POOL (the worker pool's name).
        """
        settings.setdefault("group", os.environ.get(GROUP_ENV) or os.environ.get(POOL_ENV))
        if not settings["group"]:
            settings["group"] = DEFAULT_GROUP
        scheduler = cls(redis_from_url(url, **(redis_options or {})), **settings)
        scheduler._owns_client = True
        return scheduler

    # -- registration ----------------------------------------------------------------------

    def register(self, cronspec: str, task: Task, **opts: Unpack[OptionArgs]) -> str:
        """Add an entry; returns its ID (stable across replicas). Raises `ScheduleError`."""
        return self._add(make_entry(self.group, cronspec, task, **self._scoped(task, opts)))

    def _scoped(self, task: Task, opts: Mapping[str, Any]) -> OptionArgs:
        """`opts` with the queue under the prefix (unchanged without one, so that entry IDs
        and their option strings stay as they were)."""
        scoped: dict[str, Any] = dict(opts)
        if self._queue_prefix:
            queue = scoped.get("queue") or task.options.queue or keys.DEFAULT_QUEUE
            scoped["queue"] = keys.prefixed_queue(self._queue_prefix, str(queue))
        return cast(OptionArgs, scoped)

    def _add(self, entry: Entry) -> str:
        if entry.id in self._entries:
            raise ScheduleError(f"schedule entry {entry.name!r}: already registered as {entry.id}")
        self._entries[entry.id] = entry
        self._states[entry.id] = _EntryState()
        self._changed.set()
        log.info("schedule registered entry=%s name=%r spec=%r", entry.id, entry.name, entry.spec)
        return entry.id

    def unregister(self, entry_id: str) -> None:
        """Remove an entry (its history stays, as in Go). Raises `KeyError` if unknown."""
        if entry_id not in self._entries:
            raise KeyError(f"no scheduler entry found: entry_id={entry_id!r}")
        entry = self._entries.pop(entry_id)
        self._states.pop(entry_id)
        self._changed.set()
        log.info("schedule unregistered entry=%s name=%r", entry_id, entry.name)

    @property
    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def apply_schedules(self, items: Sequence[object]) -> list[str]:
        """Make the config-file entries exactly `items`; bad items are logged and skipped.

        Entries registered with `register()` are left alone. Returns the error messages.
        """
        wanted: dict[str, Entry] = {}
        errors = []
        for index, item in enumerate(items):
            try:
                config = parse_entry_config(index, item)
                options = self._scoped(config.task, config.options)
                entry = make_entry(self.group, config.cron, config.task, config.name, **options)
                if entry.id in wanted:
                    raise ScheduleError(
                        f"schedule entry {entry.name!r}: same schedule, task and options as "
                        f"entry {wanted[entry.id].name!r}"
                    )
            except ScheduleError as exc:
                errors.append(str(exc))
                log.error("schedule entry rejected: %s", exc)
                continue
            wanted[entry.id] = entry
        for entry_id in self._loaded.ids - set(wanted):
            if entry_id in self._entries:
                self.unregister(entry_id)
        for entry_id, entry in wanted.items():
            if entry_id not in self._entries:
                self._add(entry)
        self._loaded.ids = set(wanted)
        return errors

    async def watch_file(self, path: Path, interval: float = RELOAD_INTERVAL_SECONDS) -> None:
        """Apply the file's `schedules:` now and whenever its content changes (until cancelled).

        Reads content, not mtimes: a Kubernetes ConfigMap volume swaps a symlink in place.
        An unreadable file keeps the current entries.
        """
        while True:
            try:
                data = await asyncio.to_thread(path.read_bytes)
                digest = hashlib.sha256(data).hexdigest()
                if digest != self._loaded.digest:
                    self.apply_schedules(load_schedules(path))
                    self._loaded.digest = digest
                    log.info("schedules loaded path=%s entries=%d", path, len(self._entries))
            except (OSError, yaml.YAMLError, ScheduleError) as exc:
                log.error("schedules file not applied path=%s error=%s", path, describe(exc))
            await asyncio.sleep(interval)

    # -- status ----------------------------------------------------------------------------

    @property
    def status(self) -> SchedulerStatus:
        return SchedulerStatus(
            group=self.group,
            scheduler_id=self.id,
            role=self.elector.role,
            fencing_token=self.elector.token,
            entries=len(self._entries),
            ticks_fired=self._counters.fired,
            duplicates_suppressed=self._counters.duplicates,
            ticks_skipped=self._counters.skipped,
        )

    def health_details(self) -> dict[str, object]:
        """The status as `scheduler_*` lines for /healthz."""
        status = self.status.as_dict()
        del status["scheduler_id"]
        return {f"scheduler_{key}": value for key, value in status.items()}

    def add_listener(self, listener: Callable[[SchedulerStatus], None]) -> None:
        """Call `listener(status)` after every tick and role change (metrics, health)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        status = self.status
        for listener in self._listeners:
            listener(status)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Campaign, fire and publish until cancelled; then step down and clean up.

        The loops are stopped with `cancel_and_wait`, not a TaskGroup: a loop inside a redis-py
        call can swallow one cancellation (Python 3.11 `wait_for`) and would then run on, and
        SIGTERM would never end the process.
        """
        loops = {
            "elector": asyncio.create_task(self.elector.run()),
            "fire": asyncio.create_task(self._fire_loop()),
            "heartbeat": asyncio.create_task(self._heartbeat_loop()),
        }
        try:
            done, _ = await asyncio.wait(loops.values(), return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # a loop that failed ends the scheduler with its error
        finally:
            for name, task in loops.items():
                await cancel_and_wait(task, f"scheduler {name}", STOP_TIMEOUT_SECONDS)
            await asyncio.shield(self._shutdown())

    async def run_beside(self, main: Awaitable[None], config_file: Path | None = None) -> None:
        """Run the scheduler (watching `config_file` if given) while `main` runs."""
        background = [asyncio.create_task(self.run())]
        if config_file is not None:
            background.append(asyncio.create_task(self.watch_file(config_file)))
        for task in background:
            task.add_done_callback(_log_failure)
        try:
            await main
        finally:
            for task in background:
                await cancel_and_wait(task, "scheduler", 2 * STOP_TIMEOUT_SECONDS)

    async def _shutdown(self) -> None:
        was_leader = self.elector.is_leader
        await self.elector.release()
        if was_leader:
            with contextlib.suppress(RedisError):
                await self._broker.clear_scheduler_entries(self.id)
        if self._owns_client:
            await self._broker.close()
        log.info("scheduler stopped group=%s id=%s", self.group, self.id)

    def _now(self) -> float:
        return self._clock()

    def _tick_after(self, entry: Entry, unix: float) -> int | None:
        after = datetime.fromtimestamp(math.floor(unix), self._location)
        if isinstance(entry.schedule, cron.EverySchedule):
            return int(entry.schedule.tick_after(after).timestamp())
        upcoming = entry.schedule.next(after)
        return None if upcoming is None else int(upcoming.timestamp())

    def _grace(self, entry: Entry, tick: int) -> float:
        """The configured grace, else the entry's interval but at least two failovers' time:
        the ticks due while a standby waits for a dead leader's lock are fired late, not lost
        (the fence still lets each fire only once)."""
        if self._misfire_grace is not None:
            return self._misfire_grace
        following = self._tick_after(entry, tick)
        interval = 0.0 if following is None else float(following - tick)
        return max(interval, 2 * self.elector.takeover_seconds)

    async def _on_elected(self, token: int) -> None:
        """Fence older leaders off every queue, then resume each entry after its last tick."""
        now = self._now()
        for queue in sorted({entry.queue for entry in self._entries.values()}):
            fence = await self._ticks.raise_fence(queue, token)
            if fence > token:  # the token counter fell behind a queue's fence
                token = await self.elector.retoken(fence)
                if not token:
                    await self.elector.step_down("lock lost while fencing")
                    return
                await self._ticks.raise_fence(queue, token)
        for entry_id, entry in list(self._entries.items()):
            await self._resume(entry_id, entry, now)
        self._changed.set()
        self._notify()
        await self._publish_entries()

    async def _resume(self, entry_id: str, entry: Entry, now: float) -> None:
        state = self._states.get(entry_id)
        if state is None:
            return
        last = await self._ticks.last_tick(entry.queue, entry_id)
        state.last_fired = last
        state.next_tick = self._tick_after(entry, last if last is not None else now)

    async def _on_deposed(self, reason: str) -> None:
        self._notify()
        with contextlib.suppress(RedisError):
            await self._broker.clear_scheduler_entries(self.id)

    async def _fire_loop(self) -> None:
        while True:
            self._changed.clear()
            wait = await self._fire_due() if self.elector.is_leader else MAX_IDLE_SECONDS
            await wait_event(self._changed, wait)

    async def _fire_due(self) -> float:
        """Fire every due tick; returns the seconds until the next one (at most 1 s).

        Entries are independent: one whose tick fails is retried after a short back-off
        (until its tick is too old for the grace) while the others go on firing.
        """
        wait = MAX_IDLE_SECONDS
        for entry_id, entry in list(self._entries.items()):
            state = self._states.get(entry_id)
            if state is None:
                continue
            try:
                await self._fire_entry(entry_id, entry, state)
            except (RedisError, BrokerError) as exc:
                log.warning(
                    "schedule tick failed group=%s entry=%s name=%r error=%s",
                    self.group,
                    entry_id,
                    entry.name,
                    describe(exc),
                )
                wait = min(wait, ERROR_BACKOFF_SECONDS)
                continue
            if not self.elector.is_leader:
                return MAX_IDLE_SECONDS
            if state.next_tick is not None:
                wait = min(wait, state.next_tick - self._now())
        return wait

    async def _fire_entry(self, entry_id: str, entry: Entry, state: _EntryState) -> None:
        if state.next_tick is None and state.last_fired is None:
            await self._resume(entry_id, entry, self._now())
        while state.next_tick is not None and state.next_tick <= self._now():
            if not self.elector.is_leader:
                return
            await self._fire_or_skip(entry_id, entry, state)

    async def _fire_or_skip(self, entry_id: str, entry: Entry, state: _EntryState) -> None:
        tick = state.next_tick
        assert tick is not None
        now = self._now()
        allowed = max(self._grace(entry, tick), LATENESS_TOLERANCE)
        if now - tick > allowed:
            state.next_tick = self._skip_missed(entry, tick, now - allowed)
            return
        if await self._fire(entry_id, entry, tick):
            state.last_fired = tick
            state.next_tick = self._tick_after(entry, tick)

    def _skip_missed(self, entry: Entry, first: int, cutoff: float) -> int | None:
        """Skip the ticks from `first` to before `cutoff`; the first tick not skipped."""
        skipped = 0
        tick: int | None = first
        while tick is not None and tick < cutoff and skipped < SKIPPED_COUNT_LIMIT:
            skipped += 1
            tick = self._tick_after(entry, tick)
        if tick is not None and tick < cutoff:
            tick = self._tick_after(entry, math.ceil(cutoff) - 1)
        self._counters.skipped += skipped
        log.warning(
            "schedule ticks missed and skipped group=%s entry=%s name=%r first=%d skipped=%d%s",
            self.group,
            entry.id,
            entry.name,
            first,
            skipped,
            "+" if skipped >= SKIPPED_COUNT_LIMIT else "",
        )
        self._notify()
        return tick

    async def _fire(self, entry_id: str, entry: Entry, tick: int) -> bool:
        """Fire one tick; False when fenced off (the tick is left to the new leader)."""
        now = self._now()
        late = now - tick
        task_id = f"cron:{self.group}:{entry_id}:{tick}"
        moment = datetime.fromtimestamp(now, UTC)
        prepared = prepare(entry.task, replace(entry.overrides, task_id=task_id), moment)
        result = await self._ticks.fire(self.elector.token, entry_id, tick, prepared.write)
        if result.status is FireStatus.FENCED:
            await self.elector.step_down("fenced off by a newer leader")
            return False
        if result.status is FireStatus.ALREADY_FIRED or result.created is Created.TASK_ID_EXISTS:
            self._counters.duplicates += 1
            log.info(
                "schedule tick already fired group=%s entry=%s tick=%d", self.group, entry_id, tick
            )
        else:
            self._counters.fired += 1
            if result.enqueued:
                await self._record(entry_id, task_id, moment)
            log.log(
                logging.WARNING if late > LATENESS_TOLERANCE else logging.DEBUG,
                "schedule tick fired group=%s entry=%s name=%r tick=%d late=%.3f task_id=%s%s",
                self.group,
                entry_id,
                entry.name,
                tick,
                late,
                task_id,
                "" if result.enqueued else " (unique lock held: no task)",
            )
        self._notify()
        return True

    async def _record(self, entry_id: str, task_id: str, moment: datetime) -> None:
        stamp = Timestamp()
        stamp.FromDatetime(moment)
        event = SchedulerEnqueueEvent(task_id=task_id, enqueue_time=stamp)
        try:
            await self._broker.record_scheduler_enqueue_event(entry_id, event)
        except RedisError as exc:  # as Go: the task is enqueued, the history is best effort
            log.warning("scheduler history not recorded entry=%s error=%s", entry_id, describe(exc))

    # -- Go-compatible bookkeeping ------------------------------------------------------------

    def _entry_message(self, entry: Entry) -> SchedulerEntry:
        state = self._states.get(entry.id) or _EntryState()
        message = SchedulerEntry(
            id=entry.id,
            spec=entry.spec,
            task_type=entry.task.type,
            task_payload=entry.task.payload or b"",
            enqueue_options=list(entry.enqueue_options),
            prev_enqueue_time=GO_ZERO_TIME
            if state.last_fired is None
            else Timestamp(seconds=state.last_fired),
        )
        if state.next_tick is not None:
            message.next_enqueue_time.CopyFrom(Timestamp(seconds=state.next_tick))
        return message

    async def _publish_entries(self) -> None:
        if not self.elector.is_leader:
            return
        entries = [self._entry_message(entry) for entry in self._entries.values()]
        ttl = max(1, math.ceil(2 * self._heartbeat_interval))
        await self._broker.write_scheduler_entries(self.id, entries, ttl)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            try:
                await self._publish_entries()
            except RedisError as exc:
                log.warning(
                    "scheduler heartbeat failed group=%s error=%s", self.group, describe(exc)
                )


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("scheduler stopped by an error", exc_info=task.exception())


class SchedulerCollector(Collector):
    """Prometheus metrics of a scheduler, read from its status at scrape time."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self._scheduler.status
        labels = ["group"]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=labels)
            family.add_metric([status.group], value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=labels)
            family.add_metric([status.group], value)
            return family

        yield gauge(
            "kasynq_scheduler_leader",
            "1 while this process leads its group.",
            1 if status.role is Role.LEADER else 0,
        )
        yield gauge(
            "kasynq_scheduler_fencing_token",
            "Fencing token of the last leadership taken.",
            status.fencing_token,
        )
        yield gauge("kasynq_scheduler_entries", "Registered schedule entries.", status.entries)
        yield counter(
            "kasynq_scheduler_ticks_fired", "Ticks this process fired.", status.ticks_fired
        )
        yield counter(
            "kasynq_scheduler_duplicates_suppressed",
            "Ticks found already fired (by another or an earlier leader).",
            status.duplicates_suppressed,
        )
        yield counter(
            "kasynq_scheduler_ticks_skipped",
            "Missed ticks skipped as older than misfire_grace.",
            status.ticks_skipped,
        )


def register_metrics(scheduler: Scheduler, registry: CollectorRegistry) -> None:
    """Export the scheduler's status in `registry` (e.g. the worker server's)."""
    registry.register(SchedulerCollector(scheduler))
