"""The queue metrics collector on a real Redis: asynq's names and types, few round trips.

Parity with Go's exporter, value for value, is in tests/interop/test_exporter_interop.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kasynq.client import Client
from kasynq.exporter import QueueMetricsCollector
from kasynq.inspector import Inspector
from kasynq.task import Task
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from tests.cli.clirun import kasynq
from tests.test_inspector_queue_infos import RoundTrips, round_trips

__all__ = ["round_trips"]  # the fixture, shared with test_inspector_queue_infos

QUEUES = ("a", "b", "c", "d", "e")


@pytest.fixture
def inspector(redis_url: str) -> Iterator[Inspector]:
    with Inspector.from_url(redis_url) as opened:
        yield opened


def scrape(inspector: Inspector) -> dict[str, Any]:
    registry = CollectorRegistry()
    registry.register(QueueMetricsCollector(inspector))
    page = generate_latest(registry).decode()
    return {family.name: family for family in text_string_to_metric_families(page)}


def test_scrape_has_asynq_names_types_and_values(redis_url: str, inspector: Inspector) -> None:
    with Client.from_url(redis_url) as client:
        for number, queue in enumerate(QUEUES):
            for _ in range(number + 1):
                client.enqueue(Task("job", b"x"), queue=queue)
    inspector.pause_queue("c")
    families = scrape(inspector)
    assert {name: family.type for name, family in families.items()} == {
        "asynq_tasks_enqueued_total": "gauge",
        "asynq_queue_size": "gauge",
        "asynq_queue_latency_seconds": "gauge",
        "asynq_queue_memory_usage_approx_bytes": "gauge",
        "asynq_tasks_processed": "counter",
        "asynq_tasks_failed": "counter",
        "asynq_queue_paused_total": "gauge",
    }
    sizes = {s.labels["queue"]: s.value for s in families["asynq_queue_size"].samples}
    assert sizes == {queue: number + 1 for number, queue in enumerate(QUEUES)}
    paused = {s.labels["queue"]: s.value for s in families["asynq_queue_paused_total"].samples}
    assert paused == {queue: float(queue == "c") for queue in QUEUES}
    processed = families["asynq_tasks_processed"].samples
    assert {s.name for s in processed} == {"asynq_tasks_processed_total"}
    states = {s.labels["state"] for s in families["asynq_tasks_enqueued_total"].samples}
    assert states == {"active", "pending", "scheduled", "retry", "archived", "completed"}


def test_scrape_costs_two_round_trips_whatever_the_queue_count(
    redis_url: str, inspector: Inspector, round_trips: RoundTrips
) -> None:
    with Client.from_url(redis_url) as client:
        for queue in QUEUES:
            client.enqueue(Task("job", b"x"), queue=queue)
    scrape(inspector)  # connection open, scripts cached
    round_trips.count = 0
    assert len(scrape(inspector)["asynq_queue_size"].samples) == len(QUEUES)
    assert round_trips.count == 2  # SMEMBERS asynq:queues, then one pipeline of every queue


def test_scrape_answers_empty_when_redis_is_gone() -> None:
    with Inspector.from_url("redis://127.0.0.1:1/0") as unreachable:
        assert all(not family.samples for family in scrape(unreachable).values())


def test_exporter_command_fails_fast_naming_the_url() -> None:
    result = kasynq("redis://:secret@127.0.0.1:1/0", "exporter", "--port", "1")
    assert result.exit_code == 1
    assert "redis://:***@127.0.0.1:1/0" in result.stderr and "secret" not in result.stderr
