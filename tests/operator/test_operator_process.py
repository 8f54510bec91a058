"""The operator process's own surface: the CLI and its /metrics and /healthz endpoint."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from kasynq.broker.metrics import QueueMetrics
from kasynq_operator.handlers import api_connection_limit
from kasynq_operator.httpendpoint import start_http
from kasynq_operator.main import main
from kasynq_operator.metrics import QueueSamples
from kubernetes import client

from devenv.processes import free_port
from devenv.redis_servers import RedisServer
from tests.fixtures.kube import Kube, wait_for
from tests.operator.test_operator import push_pending


async def test_metrics_and_healthz_are_served() -> None:
    port = free_port()
    runner = await start_http(port, host="127.0.0.1")
    try:

        def get(path: str) -> tuple[int, str]:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
                return reply.status, reply.read().decode()

        status, body = await asyncio.to_thread(get, "/metrics")
        assert status == 200
        assert "kasynq_operator_decision_seconds" in body
        assert "kasynq_operator_redis_poll_seconds" in body
        assert await asyncio.to_thread(get, "/healthz") == (200, "ok\n")
    finally:
        await runner.cleanup()


def test_queue_samples_export_asynq_families_until_forgotten() -> None:
    samples = QueueSamples()
    samples.record(QueueMetrics("t:q", pending=4, active=1, completed=2, processed_total=9))
    samples.record(QueueMetrics("t:paused", latency_seconds=1.5, paused=True))
    families = {family.name: family for family in samples.collect()}
    assert "asynq_queue_memory_usage_approx_bytes" not in families, "not sampled: left out"

    def value(name: str, **labels: str) -> float:
        (match,) = [s.value for s in families[name].samples if s.labels == labels]
        return float(match)

    assert value("asynq_queue_size", queue="t:q") == 7
    assert value("asynq_tasks_enqueued_total", queue="t:q", state="active") == 1
    assert value("asynq_tasks_processed", queue="t:q") == 9
    assert value("asynq_queue_latency_seconds", queue="t:paused") == 1.5
    assert value("asynq_queue_paused_total", queue="t:paused") == 1
    samples.forget("t:q")
    sizes = next(f for f in samples.collect() if f.name == "asynq_queue_size")
    assert [s.labels["queue"] for s in sizes.samples] == ["t:paused"]


def test_api_connections_cover_every_watch_stream() -> None:
    assert api_connection_limit(()) == api_connection_limit(("team-a",)) == 8 + 4
    assert api_connection_limit(("a", "b", "c")) == 3 * 8 + 4
    assert api_connection_limit(("team-*",)) == 0, "unknown matches: no limit"


def test_namespace_options_exclude_each_other() -> None:
    result = CliRunner().invoke(main, ["-n", "team-a", "--all-namespaces"])
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_a_pod_template_field_that_cannot_be_allowed_stops_the_start() -> None:
    env = {"KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS": "runtimeClassName,securityContext"}
    result = CliRunner().invoke(main, ["-n", "team-a"], env=env)
    assert result.exit_code == 2
    assert "KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS='runtimeClassName,securityContext'" in (
        result.output
    )
    assert "securityContext cannot be allowed" in result.output


def test_operator_process_serves_and_reconciles(
    kube: Kube, namespace: str, crds: list[str], redis_server: RedisServer
) -> None:
    """`kasynq-operator` as its own process: /healthz, /metrics, a pool reconciled, clean exit."""
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("kasynq-operator")),
        "--namespace",
        namespace,
        "--metrics-port",
        str(port),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
                    return reply.status == 200
            except OSError:
                assert process.poll() is None, "the operator exited"
                return False

        wait_for(healthy, "the operator's /healthz")
        core = client.CoreV1Api(kube.api_client)
        core.create_namespaced_secret(
            namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="redis"), string_data={"url": redis_server.url}
            ),
        )
        custom = client.CustomObjectsApi(kube.api_client)
        for plural, kind, spec in (
            ("asynqqueues", "AsynqQueue", {"redis": {"secretName": "redis"}}),
            (
                "asynqworkerpools",
                "AsynqWorkerPool",
                {
                    "queues": [{"name": "jobs"}],
                    "handlers": "app:mux",
                    "template": {"image": "registry.invalid/app:1"},
                },
            ),
        ):
            body = {
                "apiVersion": "kasynq.io/v1alpha1",
                "kind": kind,
                "metadata": {"name": "jobs"},
                "spec": spec,
            }
            custom.create_namespaced_custom_object("kasynq.io", "v1alpha1", namespace, plural, body)
        apps = client.AppsV1Api(kube.api_client)
        wait_for(
            lambda: bool(apps.list_namespaced_deployment(namespace).items), "the worker Deployment"
        )

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
                return str(reply.read().decode())

        assert "kasynq_operator_scaling_decisions_total" in scrape()
        push_pending(redis_server, f"{namespace}:jobs", 3)
        pending = f'asynq_tasks_enqueued_total{{queue="{namespace}:jobs",state="pending"}} 3.0'
        wait_for(lambda: pending in scrape(), "asynq's queue families on the operator's /metrics")
        body = scrape()
        assert f'asynq_queue_size{{queue="{namespace}:jobs"}} 3.0' in body
        assert f'asynq_queue_paused_total{{queue="{namespace}:jobs"}} 0.0' in body
        assert "asynq_queue_memory_usage_approx_bytes" not in body
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
