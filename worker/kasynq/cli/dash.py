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
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from kasynq.broker.inspect import QueueInfo
from kasynq.cli.output import cell
from kasynq.cli.session import Session, command_action
from kasynq.inspector import Inspector, ServerInfo

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


def render(
    infos: Sequence[QueueInfo], trends: dict[str, QueueTrend], servers: Sequence[ServerInfo]
) -> Group:
    """The dashboard: a queues table with sparklines, then a servers table."""
    queues = Table(title="Queues (q to quit)", expand=True)
    queues.add_column("QUEUE", no_wrap=True)  # names stay whole; counts give way first
    for column in ("pending", "active", "scheduled", "retry", "archived", "paused"):
        queues.add_column(column.upper())
    for column in ("processed/s", "failed/s", "latency"):
        queues.add_column(column.upper(), no_wrap=True)
    for info in infos:
        trend = trends[info.queue]
        queues.add_row(
            info.queue,
            *(cell(getattr(info, name)) for name in ("pending", "active", "scheduled", "retry")),
            cell(info.archived),
            cell(info.paused),
            f"{sparkline(trend.processed_per_second)} {_last(trend.processed_per_second):.1f}",
            f"{sparkline(trend.failed_per_second)} {_last(trend.failed_per_second):.1f}",
            f"{sparkline(trend.latency_seconds)} {_last(trend.latency_seconds):.1f}s",
        )
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
    return Group(queues, hosts)


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
    """Live queues (sparklines of processed/failed per second and latency) and servers."""
    trends: dict[str, QueueTrend] = {}
    with session.inspector() as inspector, single_keys():
        infos, servers = sample(inspector)
        # The terminal's own size, on the alternate screen: redraws never scroll or wrap,
        # and the shell's screen comes back untouched on quit.
        with Live(console=Console(), auto_refresh=False, screen=True) as live:
            while True:
                now = time.monotonic()
                for info in infos:
                    trends.setdefault(info.queue, QueueTrend()).add(info, now)
                live.update(render(infos, trends, servers), refresh=True)
                if quit_pressed(refresh):
                    return
                infos, servers = sample(inspector)
