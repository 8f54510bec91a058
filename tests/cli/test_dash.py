"""`kasynq dash` in a real pseudo-terminal (a detached tmux session on a private socket).

The dashboard must start, show the queues, redraw with new numbers after tasks are enqueued
and counters move, keep its numbers visible at 80 columns, ride out a Redis outage with a
notice, and quit with exit status 0 on `q`.
"""

from __future__ import annotations

import io
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from kasynq import keys
from kasynq.cli.dash import render
from kasynq.client import Client
from kasynq.task import Task
from rich.console import Console

from devenv.redis_servers import RedisServer
from tests.cli.clirun import table_rows

TIMEOUT_SECONDS = 15.0

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")


class Tmux:
    """One tmux server on its own socket, so the test never touches anyone else's sessions."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "dash").stdout

    def session_alive(self) -> bool:
        return self("has-session", "-t", "dash").returncode == 0


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(tmp_path / "tmux.sock")
    yield session
    session("kill-server")


def wait_for(condition: Callable[[], bool], what: str, tmux: Tmux) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen:\n{tmux.screen()}")
        time.sleep(0.1)


def queue_row(screen: str, queue: str) -> list[str]:
    """The cells of the dashboard's row for `queue` (empty when it is not shown)."""
    return next((row for row in table_rows(screen) if row[0] == queue), [])


def test_dash_shows_queues_updates_and_quits_on_q(
    redis_url: str, tmux: Tmux, tmp_path: Path
) -> None:
    with Client.from_url(redis_url) as client:
        client.enqueue(Task("job", b""), queue="mail")
        client.enqueue(Task("job", b""), queue="reports")
    kasynq = Path(sys.executable).parent / "kasynq"
    exit_file = tmp_path / "exit-status"
    # pytest exports COLUMNS=80/LINES=24, which rich would prefer to the pane's real size.
    command = (
        f"env -u COLUMNS -u LINES {shlex.quote(str(kasynq))} --redis-url {shlex.quote(redis_url)}"
        " dash --refresh 0.3;"
        f" echo $? > {shlex.quote(str(exit_file))}"
    )
    started = tmux("new-session", "-d", "-s", "dash", "-x", "160", "-y", "40", command)
    assert started.returncode == 0, started.stderr

    wait_for(lambda: "Servers" in tmux.screen(), "the dashboard", tmux)
    screen = tmux.screen()
    assert "Queues (q to quit)" in screen and "PROCESSED/S" in screen
    assert queue_row(screen, "mail")[:2] == ["mail", "1"], screen
    assert queue_row(screen, "reports")[:2] == ["reports", "1"]

    with Client.from_url(redis_url) as client:
        for _ in range(3):
            client.enqueue(Task("job", b""), queue="mail")
    with redis.Redis.from_url(redis_url) as conn:
        conn.incrby(keys.processed_total_key("reports"), 50)
    wait_for(lambda: queue_row(tmux.screen(), "mail")[:2] == ["mail", "4"], "mail's count", tmux)
    wait_for(
        lambda: "█" in "".join(queue_row(tmux.screen(), "reports")[7:8]),
        "a processed/s spike for reports in its sparkline",
        tmux,
    )

    tmux("send-keys", "-t", "dash", "q")
    wait_for(lambda: not tmux.session_alive(), "the dashboard to quit on q", tmux)
    assert exit_file.read_text().strip() == "0"


def start_dash(tmux: Tmux, tmp_path: Path, redis_url: str, columns: int, rows: int) -> Path:
    """`kasynq dash --refresh 0.2` in a pane of the given size; the file its exit status goes to
    (its stderr goes to `dash.err` beside it)."""
    kasynq = Path(sys.executable).parent / "kasynq"
    exit_file = tmp_path / "exit-status"
    command = (
        f"env -u COLUMNS -u LINES {shlex.quote(str(kasynq))} --redis-url {shlex.quote(redis_url)}"
        f" dash --refresh 0.2 2> {shlex.quote(str(tmp_path / 'dash.err'))};"
        f" echo $? > {shlex.quote(str(exit_file))}"
    )
    started = tmux("new-session", "-d", "-s", "dash", "-x", str(columns), "-y", str(rows), command)
    assert started.returncode == 0, started.stderr
    wait_for(lambda: "Servers" in tmux.screen(), "the dashboard", tmux)
    return exit_file


def test_dash_numbers_stay_visible_at_80_columns_as_sparklines_fill(
    redis_url: str, tmux: Tmux, tmp_path: Path
) -> None:
    with Client.from_url(redis_url) as client:
        client.enqueue_many([Task("job", b"")] * 1234, queue="mail")
        client.enqueue(Task("job", b""), queue="reports-nightly")
    start_dash(tmux, tmp_path, redis_url, 80, 24)
    with redis.Redis.from_url(redis_url) as conn:
        for step in range(45):  # 9 s at 0.2 s: more samples than a sparkline holds
            conn.incrby(keys.processed_total_key("mail"), 7 * step)
            time.sleep(0.2)
    screen = tmux.screen()
    assert max(len(line) for line in screen.splitlines()) <= 80
    mail, nightly = queue_row(screen, "mail"), queue_row(screen, "reports-nightly")
    assert mail[1:3] == ["1234", "0"] and nightly[1] == "1", screen
    assert re.search(r"\d+\.\d$", mail[7]) and mail[9].endswith("s"), screen
    assert "…" not in screen


def test_dash_rides_out_a_redis_outage_with_a_notice(
    redis_factory: type[RedisServer], tmux: Tmux, tmp_path: Path
) -> None:
    server = redis_factory().start()
    with Client.from_url(server.url) as client:
        client.enqueue(Task("job", b""), queue="mail")
    exit_file = start_dash(tmux, tmp_path, server.url, 120, 30)
    wait_for(lambda: queue_row(tmux.screen(), "mail")[:2] == ["mail", "1"], "mail's count", tmux)
    server.stop()
    wait_for(lambda: "unreachable" in tmux.screen(), "the outage notice", tmux)
    assert queue_row(tmux.screen(), "mail")[:2] == ["mail", "1"]  # the last numbers stay up
    time.sleep(1)
    assert tmux.session_alive() and not exit_file.exists()
    server.start()  # empty: it kept nothing
    with Client.from_url(server.url) as client:
        client.enqueue_many([Task("job", b"")] * 2, queue="mail")
    errors = tmp_path / "dash.err"
    wait_for(lambda: "Reconnected" in tmux.screen() or exit_file.exists(), "reconnection", tmux)
    assert not exit_file.exists(), errors.read_text()[-3000:]
    wait_for(lambda: queue_row(tmux.screen(), "mail")[:2] == ["mail", "2"], "fresh numbers", tmux)
    tmux("send-keys", "-t", "dash", "q")
    wait_for(lambda: not tmux.session_alive(), "the dashboard to quit on q", tmux)
    assert exit_file.read_text().strip() == "0"


def test_render_fits_any_width_also_without_queues() -> None:
    """No queue at all (a Redis that just restarted empty) renders too, at any usual width."""
    for width in (80, 120, 200):
        console = Console(width=width, file=io.StringIO())
        console.print(render([], {}, [], width, "Reconnected"))
        assert "QUEUE" in console.file.getvalue()
