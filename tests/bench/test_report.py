"""docs/benchmarks.md rendering from hand-made results: ratios, FAILED rows, targets."""

from __future__ import annotations

from pathlib import Path

from bench.autoscaling_bench import autoscaling_round
from bench.report import (
    REALNODE_HEADING,
    autoscaling_targets,
    realnode_section,
    render_page,
    splice_section,
    targets,
    web_targets,
)
from bench.results import (
    AUTOSCALING,
    DRAIN,
    ENQUEUE,
    FAN_OUT,
    LATENCY,
    OPERATOR,
    WAIT,
    WEB,
    Results,
)
from bench.stats import Failed
from bench.systems import BLOCKING_API, REPO_ROOT
from devenv.simulator.scenarios import SCENARIOS


def _results() -> Results:
    results = Results(quick=True, started="then", finished="now")
    results.titles.update({"kasynq": "kasynq", "go-asynq": "Go asynq", "celery": "Celery"})
    results.python_peers.append("celery")
    for system, single, batch in (("kasynq", 9_000.0, 40_000.0), ("go-asynq", 10_000.0, None)):
        results.row(ENQUEUE, system, "one call").add_run({"rate": single}, ("rate",))
        if batch is not None:
            row = results.row(ENQUEUE, system, "batch", batch=True)
            row.add_run({"rate": batch}, ("rate",))
    for system, rate in (("kasynq", 12_000.0), ("go-asynq", 10_000.0), ("celery", 1_000.0)):
        row = results.row(DRAIN, system, "1 proc x c10", processes=1, concurrency=10)
        row.add_run({"rate": rate, "cpu_per_10k": 1.0}, ("rate", "cpu_per_10k"))
    failed = results.row(DRAIN, "kasynq", "1 proc x c100", processes=1, concurrency=100)
    failed.add_run(Failed("lost 1, duplicated 0 of 20000 tasks"), ("rate", "cpu_per_10k"))
    for system, p50 in (("kasynq", 2.0), ("go-asynq", 500.0)):
        row = results.row(LATENCY, system, "1 proc x c10", processes=1, concurrency=10)
        row.add_run(
            {"p50": p50, "p95": p50, "p99": p50, "idle_rss_mib": 30.0},
            ("p50", "p95", "p99", "idle_rss_mib"),
        )
    for label, p95, rss in (("1 pool", 1.5, 100.0), ("200 pools", 3.5, 140.0)):
        row = results.row(OPERATOR, "kasynq-operator", label)
        row.add_run({"p50": 1.0, "p95": p95, "rss_mib": rss}, ("p50", "p95", "rss_mib"))
    return results


def test_targets_are_judged_from_medians() -> None:
    status = {target.goal: (target.measured, target.status) for target in targets(_results())}
    assert status["AsyncClient.enqueue ≥ 0.8x Go Client.Enqueue"] == (
        "9,000 / 10,000 = 0.90x",
        "met",
    )
    assert status["AsyncClient.enqueue_many ≥ 3x Go's single-task rate"][1] == "met"
    assert status["drain, 1 process, concurrency 10 ≥ 1.0x Go asynq"][1] == "met"
    assert status["drain, 1 process, concurrency 100 ≥ 1.0x Go asynq"][1] == "not yet measurable"
    peer = status["drain per process ≥ 3x the best Python peer (best 1-process rows)"]
    assert peer == ("12,000 / 1,000 = 12.00x", "met")
    assert status["idle pickup p50 ≤ 5 ms"] == ("2.00 ms", "met")
    decision = status[
        "decision latency, burst → patched spec.replicas, p95 ≤ 3 s (1, 50, 200 pools)"
    ]
    assert decision == ("1.50 / 3.50 s at 1 pool / 200 pools", "not met")
    assert status["operator RSS with 200 pools ≤ 150 MiB"] == ("140 MiB", "met")
    assert status["Redis round trips per queue per poll: 1"] == ("n/a", "not yet measurable")


def test_web_console_target_is_judged_on_the_slowest_page() -> None:
    results = _results()
    assert web_targets(results)[0].status == "not yet measurable"
    row = results.row(WEB, "kasynq", "1,000 queues, 100,000 pending in one")
    names = ("overview p50", "overview p95", "task list p50", "task list p95")
    row.add_run(dict(zip(names, (100.0, 150.0, 3.0, 4.0), strict=True)), names)
    (target,) = web_targets(results)
    assert (target.measured, target.status) == ("overview 150 ms, task list 4.00 ms", "met")
    row.add_run(dict(zip(names, (200.0, 900.0, 3.0, 4.0), strict=True)), names)
    row.add_run(dict(zip(names, (200.0, 800.0, 3.0, 4.0), strict=True)), names)
    assert web_targets(results)[0].status == "not met"  # median p95 of the overview: 800
    page = render_page(results, {}, "1 run(s) per row")
    assert "| 1,000 queues, 100,000 pending in one | overview | 200 | 800 |" in page


def test_page_shows_failed_rows_without_numbers_and_embeds_charts() -> None:
    page = render_page(_results(), {DRAIN: "benchmarks/drain.png"}, "1 run(s) per row")
    failed_line = next(line for line in page.splitlines() if "1 proc x c100" in line)
    assert "**FAILED**: 1/1 runs failed: lost 1, duplicated 0 of 20000 tasks" in failed_line
    assert not any(char.isdigit() for char in failed_line.split("tasks")[-1])
    assert "![drain](benchmarks/drain.png)" in page
    drain_line = next(
        line for line in page.splitlines() if line.startswith("| kasynq | 1 proc x c10 |")
    )
    assert "1.20x" in drain_line  # against Go at the same setup
    assert "12.00x" in drain_line  # against the best Python peer


def test_results_round_trip_through_json(tmp_path: Path) -> None:
    original = _results()
    path = tmp_path / "results.json"
    original.save(path)
    assert Results.load(path) == original


def test_resources_pair_cpu_of_the_latency_setup_with_idle_rss() -> None:
    page = render_page(_results(), {}, "1 run(s) per row")
    section = page.split("## CPU and memory")[1].split("##")[0]
    kasynq_line = next(line for line in section.splitlines() if line.startswith("| kasynq |"))
    # the c10 drain row's CPU (1.00) against Go's (1.00); RSS 30 MiB against Go's 30 MiB
    assert kasynq_line == "| kasynq | 1 proc x c10 | 1.00 | 1.00x | n/a | 30.0 | 1.00x | n/a |"


def test_autoscaling_scores_and_charts_per_scenario(tmp_path: Path) -> None:
    """The simulator's scenario table, the issue #18 targets and one chart per scenario."""
    results = Results(quick=False, started="then", finished="now")
    autoscaling_round(results)
    page = render_page(results, {"autoscaling-burst": "benchmarks/autoscaling-burst.png"}, "")
    section = page.split("## Autoscaling accuracy")[1]
    assert "| burst | kasynq |" in section and "| burst | HPA/KEDA baseline |" in section
    assert "![autoscaling-burst](benchmarks/autoscaling-burst.png)" in section
    status = {target.goal: target for target in autoscaling_targets(results)}
    assert status["peak ≤ 1.25 x needed + 1"].status == "met"
    busy = status["no busy pod removed while an idle one remains"]
    assert (busy.measured, busy.status) == ("11 of 11 scenarios", "met")
    pod_seconds = status["pod-seconds within 15 % of the oracle"]
    assert (pod_seconds.measured, pod_seconds.status) == ("11 of 11 scenarios", "met")
    assert set(results.series) >= {"burst/kasynq", "burst/oracle", "burst/hpa"}
    path = tmp_path / "results.json"
    results.save(path)
    assert Results.load(path) == results


def test_real_node_row_is_kept_by_make_bench_and_replaced_by_make_bench_node() -> None:
    figures: dict[str, object] = {
        "measured": "today", "tasks": 5000, "task_ms": 50, "replicas_changed_s": 1.26,
        "first_new_pod_ready_s": 5.1, "drained_s": None, "peak_pods": 10, "max_replicas": 10,
    }  # fmt: skip
    page = render_page(_results(), {}, "params", realnode=figures)
    assert page.count(REALNODE_HEADING) == 1
    assert "| example pool, 5,000 tasks of 50 ms | 1.3 | 5.1 | - | 10 of 10 |" in page
    newer = splice_section(page, realnode_section({**figures, "drained_s": 6.2}))
    assert newer.count(REALNODE_HEADING) == 1 and "| 5.1 | 6.2 |" in newer
    assert newer.startswith(page.partition(REALNODE_HEADING)[0].rstrip("\n"))
    assert REALNODE_HEADING not in render_page(_results(), {}, "params")


def test_a_partial_autoscaling_run_replaces_the_charts_series() -> None:
    """`python -m bench --workloads autoscaling` kept the earlier session's series, so the
    charts went on drawing a policy the table no longer showed."""
    earlier = Results(quick=False, started="then")
    earlier.series["cron-at-zero/kasynq"] = {"t": [1.0], "replicas": [1.0], "latency": [0.0]}
    later = Results(quick=False, started="later")
    later.series["cron-at-zero/kasynq"] = {"t": [1.0], "replicas": [0.0], "latency": [0.0]}
    merged = later.merged_into(earlier, [AUTOSCALING])
    assert merged.series["cron-at-zero/kasynq"]["replicas"] == [0.0]
    autoscaling = render_page(merged, {}, "params").partition("## Autoscaling accuracy")[2]
    assert "Measured by a later run of this workload only: later" in autoscaling.split("##")[0]


def test_the_committed_page_embeds_a_drawn_chart_per_scenario() -> None:
    """`make bench` draws replicas and latency over time per scenario (issue #18): the page
    in the repository shows each one, and each one is there."""
    page = (REPO_ROOT / "docs" / "benchmarks.md").read_text()
    for scenario in SCENARIOS:
        name = f"autoscaling-{scenario.name}"
        assert f"![{name}](benchmarks/{name}.png)" in page, name
        assert (REPO_ROOT / "docs" / "benchmarks" / f"{name}.png").stat().st_size > 0, name


def test_fan_out_rows_compare_with_celery_and_a_partial_run_keeps_the_rest() -> None:
    results = _results()
    later = Results(quick=False, started="later", finished="later still")
    later.versions["kasynq"] = {"kasynq": "9.9"}
    for system, seconds in (("kasynq", 2.0), ("celery", 10.0)):
        row = later.row(FAN_OUT, system, f"{system} API", processes=1, concurrency=10)
        row.add_run(
            {"seconds": seconds, "rate": 10_000 / seconds, "enqueue_seconds": 0.5},
            ("seconds", "rate", "enqueue_seconds"),
        )
    merged = later.merged_into(results, [FAN_OUT])
    page = render_page(merged, {}, "params")
    assert (
        "| kasynq | kasynq API | 1 proc x c10 | 2.00 | 2.00 | 2.00 | 5,000 | 0.50 | 5.00x |" in page
    )
    assert (
        "| Celery | celery API | 1 proc x c10 | 10.0 | 10.0 | 10.0 | 1,000 | 0.50 | 1.00x |" in page
    )
    note = "Measured by a later run of this workload only: later to later still, with kasynq: "
    assert note + "kasynq 9.9." in page
    assert len(merged.rows_of(DRAIN)) == 4  # the earlier session's rows stay


def test_a_partial_run_notes_its_machine_in_each_section_it_replaced() -> None:
    """The page's Machine table is the full session's: rows a `--workloads` run measured on
    another machine say, in their own section, when and where they ran."""
    results = _results()
    results.machine.update({"CPU model": "AMD EPYC", "cores": "2"})
    later = Results(quick=False, started="later", finished="later still")
    later.machine.update({"CPU model": "Intel Xeon", "cores": "2"})
    later.versions["kasynq"] = {"kasynq": "9.9"}
    later.row(WAIT, "kasynq", "1 worker").add_run({"p50": 1.5, "p95": 2.5}, ("p50", "p95"))
    web = later.row(WEB, "kasynq", "1,000 queues")
    web.add_run({"overview p50": 50.0, "overview p95": 80.0}, ("overview p50", "overview p95"))
    operator = later.row(OPERATOR, "kasynq-operator", "1000 pools")
    operator.add_run({"p50": 1.0, "p95": 2.0, "rss_mib": 140.0}, ("p50", "p95", "rss_mib"))
    page = render_page(later.merged_into(results, [WAIT, WEB, OPERATOR]), {}, "params")
    note = (
        "Measured by a later run of this workload only: later to later still, with kasynq: "
        "kasynq 9.9; on another machine: CPU model Intel Xeon."
    )
    for heading in ("## Waiting for a result", "## Web console", "## Operator"):
        assert note in page.partition(heading)[2].partition("\n## ")[0], heading
    assert "| CPU model | AMD EPYC |" in page


def test_a_run_of_some_systems_keeps_the_other_systems_rows() -> None:
    """`python -m bench --systems kasynq,go-asynq --workloads enqueue` replaced the whole
    enqueue table, dropping the Python peers' rows; now only the systems it ran are replaced,
    and the section says which systems the later run measured."""
    results = _results()
    results.row(ENQUEUE, "celery", "delay()").add_run({"rate": 3_000.0}, ("rate",))
    later = Results(quick=False, started="later", finished="later still")
    later.titles.update({"kasynq": "kasynq", "go-asynq": "Go asynq"})
    for system in ("kasynq", "go-asynq"):
        later.row(ENQUEUE, system, f"{system} API").add_run({"rate": 10.0}, ("rate",))
    merged = later.merged_into(results, [ENQUEUE], ["kasynq", "go-asynq"])
    systems = {row.system for row in merged.rows_of(ENQUEUE)}
    assert "celery" in systems
    assert {row.label for row in merged.rows_of(ENQUEUE) if row.system == "kasynq"} == {
        "kasynq API"
    }
    page = render_page(merged, {}, "params")
    assert "Measured by a later run of this workload only: later to later still " in page
    assert "(kasynq, Go asynq only)" in page


def test_the_blocking_client_has_its_target_row() -> None:
    """Issue #17: the blocking `Client.enqueue` at 0.7x Go's `Client.Enqueue` or better."""
    results = _results()
    results.row(ENQUEUE, "kasynq", BLOCKING_API).add_run({"rate": 7_500.0}, ("rate",))
    page = render_page(results, {}, "params")
    target = (
        "| #17 | blocking Client.enqueue ≥ 0.7x Go Client.Enqueue | 7,500 / 10,000 = 0.75x | met |"
    )
    assert target in page
    assert "| #3 | AsyncClient.enqueue ≥ 0.8x Go Client.Enqueue | 9,000 / 10,000 = 0.90x |" in page
