"""`kasynq exporter`: serve asynq's queue metrics for Prometheus."""

from __future__ import annotations

import logging
import threading

import click
from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from kasynq.cli.session import Session, command_action
from kasynq.exporter import QueueMetricsCollector

log = logging.getLogger(__name__)


@click.command()
@click.option("--port", default=9876, show_default=True, type=click.IntRange(1, 65535))
@click.option("--address", default="0.0.0.0", show_default=True, help="Listen address.")
@command_action
def exporter(session: Session, /, port: int, address: str) -> None:
    """Serve /metrics with every queue's size, latency, memory and counters."""
    registry = CollectorRegistry()
    with session.inspector() as inspector:
        inspector.queues()  # fail fast, with the URL, when Redis is unreachable
        registry.register(QueueMetricsCollector(inspector))
        start_http_server(port, addr=address, registry=registry)
        log.info("exporter listening address=%s port=%d", address, port)
        click.echo(f"serving asynq queue metrics on http://{address}:{port}/metrics", err=True)
        threading.Event().wait()
