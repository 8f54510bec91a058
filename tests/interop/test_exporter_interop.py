"""Issue 9: `kasynq exporter` scrapes the same as Go asynq's own exporter on the same Redis.

Go's side is tests/interop/exporter: hibiken/asynq's x/metrics `QueueMetricsCollector` on a
pedantic registry, served over HTTP. Both exporters run as real processes against Redis
seeded in every state by Go's client and server (plus a paused queue and raised counters);
their /metrics pages must hold the same families (name, type, help), label sets and values:
memory within sampling spread, latency within a small tolerance (the scrapes are apart).
"""

from __future__ import annotations

import select
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kasynq import keys
from prometheus_client.parser import text_string_to_metric_families

from devenv import goasynq
from devenv.processes import free_port, wait_until
from tests.interop.conftest import Target
from tests.interop.test_cli_interop import kasynq_connection
from tests.interop.test_inspector_interop import QUEUE, seed_all_states

pytestmark = pytest.mark.requires_go

READY_TIMEOUT_SECONDS = 30.0
LATENCY_TOLERANCE_SECONDS = 2.0
MEMORY_RELATIVE_SPREAD = 0.05

Sample = tuple[str, tuple[tuple[str, str], ...]]
"""A sample's name and sorted labels: what identifies one value on a /metrics page."""


@pytest.fixture(scope="session")
def go_exporter_binary() -> Path:
    return goasynq.build_exporter()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; all killed afterwards, even when the test fails."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def start_go_exporter(
    binary: Path, flags: list[str], processes: list[subprocess.Popen[bytes]]
) -> str:
    """Start Go's exporter; returns its /metrics URL once it says it is serving."""
    process = subprocess.Popen([str(binary), *flags], stdout=subprocess.PIPE)
    processes.append(process)
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], READY_TIMEOUT_SECONDS)
    assert readable, "Go exporter printed no ready line"
    ready = process.stdout.readline().decode()
    assert '"ready":true' in ready, ready
    address = ready.split('"address":"')[1].split('"')[0]
    return f"http://{address}/metrics"


def start_kasynq_exporter(options: list[str], processes: list[subprocess.Popen[bytes]]) -> str:
    """Start `kasynq exporter` on a free port; returns its /metrics URL once it answers."""
    kasynq = shutil.which("kasynq", path=str(Path(sys.executable).parent))
    assert kasynq is not None
    port = free_port()
    command = [kasynq, *options, "exporter", "--address", "127.0.0.1", "--port", str(port)]
    processes.append(subprocess.Popen(command, stdout=subprocess.PIPE))
    url = f"http://127.0.0.1:{port}/metrics"

    def answers() -> bool:
        try:
            scrape(url)
        except OSError:
            return False
        return True

    wait_until(answers, "kasynq exporter to serve /metrics", timeout=READY_TIMEOUT_SECONDS)
    return url


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


def parse(page: str) -> tuple[dict[str, tuple[str, str]], dict[Sample, float]]:
    """Families as {name: (type, help)} and every sample's value."""
    families = {}
    samples = {}
    for family in text_string_to_metric_families(page):
        families[family.name] = (family.type, family.documentation)
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families, samples


def seed(target: Target) -> None:
    """Every state in `seed` (Go server and clients), a paused second queue, big counters."""
    seed_all_states(target)
    target.go.enqueue("report", b"r", queue="paused-queue")
    target.go.inspect("pause", "paused-queue")
    target.redis.set(keys.processed_total_key(QUEUE), 123_456)
    target.redis.set(keys.failed_total_key(QUEUE), 789)


def test_exporter_scrape_equals_go_exporter(
    target: Target, go_exporter_binary: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    seed(target)
    url, cluster = kasynq_connection(target)
    # The Go exporter takes goasynq's connection flags (-redis URL or -cluster addresses).
    go_url = start_go_exporter(go_exporter_binary, target.go.connection, processes)
    py_url = start_kasynq_exporter(
        ["--redis-url", url, *(["--cluster"] if cluster else [])], processes
    )

    started = time.monotonic()
    go_families, go_samples = parse(scrape(go_url))
    py_families, py_samples = parse(scrape(py_url))
    apart = time.monotonic() - started

    assert py_families == go_families
    assert sorted(go_families) == [
        "asynq_queue_latency_seconds",
        "asynq_queue_memory_usage_approx_bytes",
        "asynq_queue_paused_total",
        "asynq_queue_size",
        "asynq_tasks_enqueued_total",
        "asynq_tasks_failed",
        "asynq_tasks_processed",
    ]
    assert py_samples.keys() == go_samples.keys()
    for sample, go_value in go_samples.items():
        name, _ = sample
        if name == "asynq_queue_latency_seconds":
            assert abs(py_samples[sample] - go_value) <= LATENCY_TOLERANCE_SECONDS + apart, sample
        elif name == "asynq_queue_memory_usage_approx_bytes":
            assert py_samples[sample] == pytest.approx(go_value, rel=MEMORY_RELATIVE_SPREAD)
        else:
            assert py_samples[sample] == go_value, sample

    # The seeded values are really there (not two empty pages agreeing).
    seed_queue = (("queue", QUEUE),)
    assert go_samples[("asynq_tasks_processed_total", seed_queue)] == 123_456
    assert go_samples[("asynq_queue_size", seed_queue)] == 15
    assert go_samples[("asynq_queue_paused_total", (("queue", "paused-queue"),))] == 1
    for state, count in (("active", 2), ("retry", 2), ("archived", 2), ("completed", 2)):
        labels = (("queue", QUEUE), ("state", state))
        assert go_samples[("asynq_tasks_enqueued_total", labels)] == count
