"""The chart's alert expressions, evaluated by promtool on metrics of a real kasynq worker,
`kasynq exporter` and the operator's own metric objects: each alert fires when it should and
stays silent when it should.

Two scrapes of the real processes (before and after a burst of failing tasks) become
promtool input series: counters grow by the observed difference every minute (the burst
repeated), gauges keep their second value. Labels Prometheus adds at scrape time are added as
the chart's PodMonitor and ServiceMonitor would (`namespace`, `job`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kasynq import keys
from kasynq.client import Client
from kasynq.task import Task
from kasynq_operator import metrics as operator_metrics
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from devenv import promtool
from devenv.devcluster import build_binaries
from devenv.processes import free_port, wait_until
from devenv.redis_servers import RedisServer
from tests.fixtures.kube import REPO
from tests.test_server_process import spawn_worker, worker_processes  # noqa: F401

CHART = REPO / "helm" / "kasynq"
NAMESPACE = "team-a"
SERVED = f"{NAMESPACE}:work"
UNSERVED = f"{NAMESPACE}:stuck"
OPERATOR_JOB = "kasynq-metrics"
RETRYING, ARCHIVED = 80, 10
MINUTES = 20

Sample = tuple[str, dict[str, str], float]


def helm_binary() -> Path:
    return build_binaries() / "helm"


def alert_rules() -> list[dict[str, Any]]:
    """The chart's PrometheusRule groups, without annotations (only expressions matter
    here; promtool would otherwise compare the rendered summaries too)."""
    rendered = subprocess.run(
        [str(helm_binary()), "template", "kasynq", str(CHART), "--set",
         "prometheusRule.enabled=true", "--show-only", "templates/prometheusrule.yaml"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    groups: list[dict[str, Any]] = yaml.safe_load(rendered)["spec"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return groups


def scrape(url: str) -> list[Sample]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return parse(response.read().decode())


def parse(text: str) -> list[Sample]:
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


def series_name(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def input_series(before: list[Sample], after: list[Sample], extra: dict[str, str]) -> list[Any]:
    """promtool series: counters (`_total`) grow by after-before each minute, others stay at
    their `after` value; `extra` labels are added as the scrape config would."""
    start = {(name, tuple(sorted(labels.items()))): value for name, labels, value in before}
    series = []
    for name, labels, value in after:
        labelled = {**labels, **extra}
        if name.endswith("_total"):
            first = start.get((name, tuple(sorted(labels.items()))), 0.0)
            step = value - first
            values = " ".join(str(first + step * minute) for minute in range(MINUTES + 1))
        else:
            values = " ".join([str(value)] * (MINUTES + 1))
        series.append({"series": series_name(name, labelled), "values": values})
    return series


def quiet(samples: list[Sample], extra: dict[str, str]) -> list[Any]:
    """The same series with nothing changing: every counter flat at its value."""
    return input_series(samples, samples, extra)


@pytest.fixture(scope="module")
def promtool_binary() -> Path:
    if shutil.which("go") is None:
        pytest.skip("Go toolchain not on PATH: promtool cannot be built")
    return promtool.build()


@pytest.fixture
def real_metrics(
    redis_factory: type[RedisServer],
    worker_processes: list[subprocess.Popen[bytes]],  # noqa: F811
) -> Iterator[tuple[list[Sample], list[Sample], list[Sample]]]:
    """(worker before, worker after, exporter after) from real processes on a real Redis:
    a burst of failing tasks, some retried and some archived, and a queue nobody serves."""
    server = redis_factory().start()
    worker_port, exporter_port = free_port(), free_port()
    spawn_worker(
        worker_processes, server.url, "--handlers", "tests.server_app:mux",
        "--queues", f"{SERVED}=1", "--http-port", str(worker_port), "--concurrency", "20",
    )  # fmt: skip
    exporter = subprocess.Popen(
        [sys.executable, "-c", "from kasynq.cli import main; main()", "--redis-url",
         server.url, "exporter", "--port", str(exporter_port)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    worker_processes.append(exporter)
    worker_url = f"http://127.0.0.1:{worker_port}/metrics"
    wait_until(lambda: scrape(worker_url) is not None, "worker metrics", 30, tolerate=(OSError,))
    before = scrape(worker_url)
    with Client.from_url(server.url) as client:
        for _ in range(RETRYING):
            client.enqueue(Task("fail"), queue=SERVED, max_retry=5)
        for _ in range(ARCHIVED):
            client.enqueue(Task("fail"), queue=SERVED, max_retry=0)
        for _ in range(3):
            client.enqueue(Task("hold", b"0"), queue=UNSERVED)

    def counted(name: str) -> float:
        return sum(value for sample, _, value in scrape(worker_url) if sample == name)

    wait_until(
        lambda: (
            counted("kasynq_tasks_retried_total") >= RETRYING
            and counted("kasynq_tasks_archived_total") >= ARCHIVED
        ),
        "the burst processed",
        60,
    )
    with server.client() as conn:
        assert conn.llen(keys.pending_key(UNSERVED)) == 3
    exporter_url = f"http://127.0.0.1:{exporter_port}/metrics"
    wait_until(
        lambda: any(
            name == "asynq_queue_latency_seconds" and labels.get("queue") == UNSERVED
            and value >= 1
            for name, labels, value in scrape(exporter_url)
        ),
        "the exporter reporting the unserved queue's latency",
        30,
        tolerate=(OSError,),
    )  # fmt: skip
    yield before, scrape(worker_url), scrape(exporter_url)


def operator_samples(target: float, ready: int, unavailable: bool) -> list[Sample]:
    """The operator's own metric objects, set as its pool controller sets them."""
    operator_metrics.POOLS.record(NAMESPACE, "mail", [SERVED, UNSERVED], target, ready)
    if unavailable:
        operator_metrics.DECISIONS.labels(NAMESPACE, "mail", "unavailable").inc(5)
    samples = parse(generate_latest().decode())
    operator_metrics.POOLS.forget(NAMESPACE, "mail")
    # The registry is the process's: other tests' operators leave series of their pools.
    return [
        (name, labels, value)
        for name, labels, value in samples
        if name.startswith("kasynq_operator_") and labels.get("namespace", NAMESPACE) == NAMESPACE
    ]


def run_promtool(binary: Path, tmp_path: Path, series: list[Any], expected: dict[str, Any]) -> None:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": alert_rules()}))
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "alert_rule_test": [
                {"eval_time": f"{MINUTES - 1}m", "alertname": name, "exp_alerts": alerts}
                for name, alerts in expected.items()
            ],
        }
    ]
    promtool_test(binary, tmp_path, tests)


def promtool_test(binary: Path, tmp_path: Path, tests: list[Any]) -> None:
    """`promtool test rules` on `tests` against rules.yaml in `tmp_path`; fails with its
    report (expected and got alerts or samples) when a test does not hold."""
    spec = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(spec))
    result = subprocess.run(
        [str(binary), "test", "rules", str(tmp_path / "test.yaml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_fire_on_real_metrics_of_a_failing_burst(
    promtool_binary: Path, real_metrics: Any, tmp_path: Path
) -> None:
    before, after, exporter = real_metrics
    workers = {"namespace": NAMESPACE, "job": "workers"}
    operator = operator_samples(target=0.5, ready=0, unavailable=True)
    operator_before = [(n, labels, 0.0) for n, labels, _ in operator]
    series = (
        input_series(before, after, workers)
        + quiet(exporter, {"job": "exporter"})
        + input_series(operator_before, operator, {"job": OPERATOR_JOB})
        + [{"series": f'up{{job="{OPERATOR_JOB}"}}', "values": " ".join(["0"] * (MINUTES + 1))}]
    )
    warning = {"severity": "warning"}
    run_promtool(
        promtool_binary,
        tmp_path,
        series,
        {
            "KasynqDeadLetterGrowth": [
                {"exp_labels": {"namespace": NAMESPACE, "queue": SERVED, **warning}}
            ],
            "KasynqRetryStorm": [
                {"exp_labels": {"namespace": NAMESPACE, "queue": SERVED, **warning}}
            ],
            "KasynqPickupLatencyOverTarget": [
                {
                    "exp_labels": {
                        "namespace": NAMESPACE,
                        "pool": "mail",
                        "queue": UNSERVED,
                        **warning,
                    }
                }
            ],
            "KasynqBacklogWithoutReadyWorkers": [
                {"exp_labels": {"queue": UNSERVED, "severity": "critical"}}
            ],
            "KasynqMetricsUnavailable": [
                {"exp_labels": {"namespace": NAMESPACE, "pool": "mail", **warning}}
            ],
            "KasynqOperatorDown": [{"exp_labels": {"severity": "critical"}}],
        },
    )


def test_alerts_stay_silent_when_all_is_well(
    promtool_binary: Path, real_metrics: Any, tmp_path: Path
) -> None:
    _, after, exporter = real_metrics
    operator = operator_samples(target=3600, ready=2, unavailable=False)
    series = (
        quiet(after, {"namespace": NAMESPACE, "job": "workers"})
        + quiet(exporter, {"job": "exporter"})
        + quiet(operator, {"job": OPERATOR_JOB})
        + [{"series": f'up{{job="{OPERATOR_JOB}"}}', "values": " ".join(["1"] * (MINUTES + 1))}]
    )
    names = [rule["alert"] for group in alert_rules() for rule in group["rules"]]
    run_promtool(promtool_binary, tmp_path, series, {name: [] for name in names})


def dashboard_expr(title: str) -> str:
    dashboard = json.loads((CHART / "dashboards" / "kasynq.json").read_text())
    (panel,) = [panel for panel in dashboard["panels"] if panel["title"].startswith(title)]
    return str(panel["targets"][0]["expr"]).replace("$namespace", NAMESPACE)


def test_dashboard_backlog_counts_a_queue_once_when_two_sources_export_it(
    promtool_binary: Path, real_metrics: Any, tmp_path: Path
) -> None:
    """The operator and `kasynq exporter` both export asynq_tasks_enqueued_total; scraped
    together, the Backlog panel must still show each queue's backlog once."""
    _, _, exporter = real_metrics
    pending = [s for s in exporter if s[0] == "asynq_tasks_enqueued_total"]
    series = quiet(pending, {"job": "exporter"}) + quiet(pending, {"job": OPERATOR_JOB})
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": []}))
    expected = sum(
        value
        for _, labels, value in pending
        if labels["queue"] == UNSERVED and labels["state"] in ("pending", "retry", "scheduled")
    )
    assert expected == 3
    tests = [
        {
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {
                    "expr": dashboard_expr("Backlog"),
                    "eval_time": "1m",
                    "exp_samples": [
                        {"labels": f'{{queue="{queue}"}}', "value": value}
                        for queue, value in backlog_by_queue(pending).items()
                    ],
                }
            ],
        }
    ]
    promtool_test(promtool_binary, tmp_path, tests)


def backlog_by_queue(samples: list[Sample]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _, labels, value in samples:
        if labels["state"] in ("pending", "retry", "scheduled") and labels["queue"].startswith(
            f"{NAMESPACE}:"
        ):
            totals[labels["queue"]] = totals.get(labels["queue"], 0.0) + value
    return totals


def test_operator_service_monitor_keeps_the_pools_namespace_label() -> None:
    """Without honorLabels Prometheus renames the operator's `namespace` label (the pool's) to
    exported_namespace, and the dashboard's scaling panel, filtering on namespace, is empty."""
    rendered = subprocess.run(
        [str(helm_binary()), "template", "kasynq", str(CHART), "--set",
         "metrics.serviceMonitor.enabled=true", "--show-only", "templates/servicemonitor.yaml"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    (endpoint,) = yaml.safe_load(rendered)["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True
    assert 'namespace=~"team-a"' in dashboard_expr("Scaling decisions")
