"""`kasynq dash`: a live terminal dashboard of queues and servers; `q` quits."""

from __future__ import annotations

import contextlib
import select
import sys
import termios
import time
import tty
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import click
import redis
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from kasynq.broker.inspect import QueueInfo
from kasynq.cli.output import cell
from kasynq.cli.session import Session, command_action
from kasynq.inspector import Inspector, ServerInfo
from kasynq.redaction import masked_url

SPARK_LEVELS = " ▁▂▃▄▅▆▇█"
HISTORY_POINTS = 30
QUIT_KEYS = {"q", "Q"}


def sparkline(values: Sequence[float]) -> str:
    """Block characters scaled to the largest value (all blanks when everything is zero)."""
    peak = max(values, default=0.0)
    if peak <= 0:
        return SPARK_LEVELS[0] * len(values)
    top = len(SPARK_LEVELS) - 1
    return "".join(SPARK_LEVELS[round(value / peak * top)] for value in values)


@dataclass
class QueueTrend:
    """Recent per-second rates and latencies of one queue, from successive samples."""

    processed_per_second: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    failed_per_second: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    latency_seconds: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY_POINTS))
    last: QueueInfo | None = None
    last_time: float = 0.0

    def add(self, info: QueueInfo, now: float) -> None:
        if self.last is not None and now > self.last_time:
            elapsed = now - self.last_time
            processed = max(0, info.processed_total - self.last.processed_total)
            failed = max(0, info.failed_total - self.last.failed_total)
            self.processed_per_second.append(processed / elapsed)
            self.failed_per_second.append(failed / elapsed)
        self.latency_seconds.append(info.latency.total_seconds())
        self.last, self.last_time = info, now


COUNT_FIELDS = ("pending", "active", "scheduled", "retry", "archived", "paused")
RATE_HEADERS = ("processed/s", "failed/s", "latency")
SHORT_HEADERS = {
    "pending": "pend",
    "active": "act",
    "scheduled": "sched",
    "archived": "arch",
    "processed/s": "proc/s",
    "failed/s": "fail/s",
    "latency": "lat",
}
"""Headers used when the full ones leave the counts no room (an 80-column terminal)."""


@dataclass(frozen=True)
class _Layout:
    """How the queues table fits a width: headers, cell padding, sparkline points."""

    short: bool
    padding: int
    spark_points: int


def _fit(width: int, cells: Sequence[Sequence[str]]) -> _Layout:
    """The roomiest layout whose text columns (names, counts, the rates' numbers) fit `width`.

    Sparklines get what is left, up to `HISTORY_POINTS` each: they shrink, then vanish, and
    the numbers never do.
    """
    headers = ["queue", *COUNT_FIELDS, *RATE_HEADERS]
    for short, padding in ((False, 1), (True, 1), (True, 0)):
        names = [SHORT_HEADERS.get(name, name) if short else name for name in headers]
        text = sum(
            max([len(name), *(len(row[index]) + (index > 6) for row in cells)])
            for index, name in enumerate(names)
        )
        used = text + len(names) * (1 + 2 * padding) + 1  # borders and cell padding
        if used <= width or padding == 0:
            spark_points = max(0, min(HISTORY_POINTS, (width - used) // len(RATE_HEADERS)))
            return _Layout(short, padding, spark_points)
    raise AssertionError("unreachable: the last layout always fits")


def render(
    infos: Sequence[QueueInfo],
    trends: dict[str, QueueTrend],
    servers: Sequence[ServerInfo],
    width: int,
    notice: str = "",
) -> Group:
    """The dashboard for a terminal `width` columns wide: an optional notice line (Redis
    unreachable, reconnected), a queues table with sparklines, then a servers table."""
    rows = []
    for info in infos:
        trend = trends[info.queue]
        counts = [cell(getattr(info, name)) for name in COUNT_FIELDS]
        series = (trend.processed_per_second, trend.failed_per_second, trend.latency_seconds)
        numbers = [f"{_last(values):.1f}" for values in series]
        numbers[-1] += "s"
        rows.append((info.queue, counts, series, numbers))
    layout = _fit(width, [[queue, *counts, *numbers] for queue, counts, _, numbers in rows])
    queues = Table(title="Queues (q to quit)", padding=(0, layout.padding))
    queues.add_column("QUEUE", no_wrap=True, overflow="ellipsis")  # the only one that may give
    for name in (*COUNT_FIELDS, *RATE_HEADERS):
        header = SHORT_HEADERS.get(name, name) if layout.short else name
        queues.add_column(header.upper(), no_wrap=True, justify="right")
    for queue, counts, series, numbers in rows:
        trends_cells = [
            f"{sparkline(list(values)[-layout.spark_points :]) if layout.spark_points else ''}"
            f" {number}".lstrip()
            for values, number in zip(series, numbers, strict=True)
        ]
        queues.add_row(queue, *counts, *trends_cells)
    hosts = Table(title="Servers", expand=True)
    for column in ("host", "pid", "status", "queues", "busy", "idle"):
        hosts.add_column(column.upper())
    for server in servers:
        busy = len(server.active_workers)
        hosts.add_row(
            server.host,
            str(server.pid),
            server.status,
            ", ".join(server.queues),
            str(busy),
            str(max(0, server.concurrency - busy)),
        )
    parts: list[Table | Text] = [queues, hosts]
    if notice:
        parts.insert(0, Text(notice, style="bold yellow"))
    return Group(*parts)


def _last(values: deque[float]) -> float:
    return values[-1] if values else 0.0


@contextlib.contextmanager
def single_keys() -> Iterator[None]:
    """Read stdin key by key (no Enter needed) while inside; restore the terminal after."""
    if not sys.stdin.isatty():
        yield
        return
    descriptor = sys.stdin.fileno()
    saved = termios.tcgetattr(descriptor)
    try:
        tty.setcbreak(descriptor)
        yield
    finally:
        termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def quit_pressed(wait_seconds: float) -> bool:
    """Wait up to `wait_seconds` for a key; True when it is a quit key."""
    readable, _, _ = select.select([sys.stdin], [], [], wait_seconds)
    if not readable:
        return False
    key = sys.stdin.read(1)
    return key in QUIT_KEYS or key == ""


def sample(inspector: Inspector) -> tuple[list[QueueInfo], list[ServerInfo]]:
    infos = inspector.get_queue_infos()
    return infos, inspector.servers()


@click.command()
@click.option("--refresh", default=2.0, show_default=True, type=click.FloatRange(min=0.2))
@command_action
def dash(session: Session, /, refresh: float) -> None:
    """Live queues (sparklines of processed/failed per second and latency) and servers.

    A Redis outage does not end it: the last numbers stay up under a notice while it retries
    every refresh, and a notice says when it reconnected.
    """
    trends: dict[str, QueueTrend] = {}
    with session.inspector() as inspector, single_keys():
        infos, servers = sample(inspector)  # unreachable at start: one line and exit 1
        link = RedisLink(session.url)
        console = Console()
        # The terminal's own size, on the alternate screen: redraws never scroll or wrap,
        # and the shell's screen comes back untouched on quit.
        with Live(console=console, auto_refresh=False, screen=True) as live:
            fresh = True
            while True:
                now = time.monotonic()
                if fresh:
                    for info in infos:
                        trends.setdefault(info.queue, QueueTrend()).add(info, now)
                view = render(infos, trends, servers, console.width, link.notice(now))
                live.update(view, refresh=True)
                if quit_pressed(refresh):
                    return
                try:
                    infos, servers = sample(inspector)
                    fresh = True
                    link.up(time.monotonic())
                except (redis.RedisError, OSError) as exc:  # e.g. LOADING while Redis restarts
                    fresh = False
                    link.down(time.monotonic(), exc)


RECONNECTED_NOTICE_SECONDS = 10.0


@dataclass
class RedisLink:
    """Whether the dashboard reaches Redis, for its notice line (URL without password)."""

    url: str
    down_since: float | None = None
    error: str = ""
    reconnected_at: float | None = None
    outage_seconds: float = 0.0

    def down(self, now: float, error: Exception) -> None:
        if self.down_since is None:
            self.down_since = now
        self.error = f"{type(error).__name__}: {error}"

    def up(self, now: float) -> None:
        if self.down_since is not None:
            self.outage_seconds = now - self.down_since
            self.reconnected_at, self.down_since = now, None

    def notice(self, now: float) -> str:
        where = masked_url(self.url)
        if self.down_since is not None:
            return (
                f"Redis at {where} unreachable for {now - self.down_since:.0f}s, retrying; "
                f"numbers as last seen ({self.error})"
            )
        if (
            self.reconnected_at is not None
            and now - self.reconnected_at < RECONNECTED_NOTICE_SECONDS
        ):
            return f"Reconnected to Redis at {where} after {self.outage_seconds:.0f}s"
        return ""
