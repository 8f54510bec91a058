"""docs/benchmarks.md from a session's Results: pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.results import (
    AUTOSCALING,
    CEILING,
    DRAIN,
    ENQUEUE,
    FAN_OUT,
    LATENCY,
    OPERATOR,
    ROUND_TRIPS,
    WAIT,
    WEB,
    Results,
    Row,
)
from bench.stats import Failed, Summary, ratio
from bench.systems import BLOCKING_API

GO = "go-asynq"
KASYNQ = "kasynq"
CELERY = "celery"
NOT_MEASURABLE = "not yet measurable"

RowFilter = Callable[[Row], bool]


def number(value: float) -> str:
    """Thousands separators for big numbers, two significant decimals for small ones."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def times(value: float | None) -> str:
    """A ratio; small ones keep three decimals so they do not all read 0.00x."""
    if value is None:
        return "n/a"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def summary_cells(summary: Summary | Failed | None) -> list[str]:
    """median, min, max cells; a failed row shows FAILED with the reason and no number."""
    if isinstance(summary, Failed):
        return [f"**FAILED**: {summary.reason}", "n/a", "n/a"]
    if summary is None:
        return ["n/a", "n/a", "n/a"]
    return [number(summary.median), number(summary.low), number(summary.high)]


def median_cell(summary: Summary | Failed | None) -> str:
    if isinstance(summary, Failed):
        return "**FAILED**"
    return "n/a" if summary is None else number(summary.median)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 2) -> str:
    align = ["---" if index < numeric_from else "---:" for index in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def _first(rows: Sequence[Row], system: str, keep: RowFilter) -> Row | None:
    return next((row for row in rows if row.system == system and keep(row)), None)


def best_peer(
    results: Results, rows: Sequence[Row], metric: str, keep: RowFilter, lower_is_better: bool
) -> tuple[Row, Summary] | None:
    """The Python peer row with the best median of `metric` among the rows kept."""
    candidates = [
        (row, summary)
        for row in rows
        if row.system in results.python_peers and keep(row)
        for summary in [row.summary(metric)]
        if isinstance(summary, Summary)
    ]
    if not candidates:
        return None
    pick = min if lower_is_better else max
    return pick(candidates, key=lambda candidate: candidate[1].median)


def _peer_ratio(
    results: Results, row: Row, rows: Sequence[Row], metric: str, keep: RowFilter, lower: bool
) -> str:
    best = best_peer(results, rows, metric, keep, lower)
    return times(ratio(row.summary(metric), best[1] if best else None))


def _go_ratio(row: Row, rows: Sequence[Row], metric: str, keep: RowFilter) -> str:
    go_row = _first(rows, GO, keep)
    return times(ratio(row.summary(metric), go_row.summary(metric) if go_row else None))


def _row_table(
    results: Results,
    workload: str,
    header: Sequence[str],
    cells: Callable[[Row, Sequence[Row]], list[str]],
) -> str:
    """One line per row of `workload`: system title, label, then `cells(row, all rows)`."""
    rows = results.rows_of(workload)
    body = [[results.titles.get(row.system, row.system), row.label, *cells(row, rows)]
            for row in rows]  # fmt: skip
    return table(header, body)


def _same_setup(row: Row) -> RowFilter:
    return lambda other: (other.processes, other.concurrency) == (row.processes, row.concurrency)


def _any(row: Row) -> bool:
    return True


def _same_worker(row: Row) -> RowFilter:
    def same(other: Row) -> bool:
        return (other.processes, other.concurrency, other.variant) == (
            row.processes,
            row.concurrency,
            row.variant,
        )

    return same


def _same_processes(row: Row) -> RowFilter:
    return lambda other: other.processes == row.processes


def _labelled(label: str) -> RowFilter:
    return lambda other: other.label == label


def _single_async(row: Row) -> bool:
    return not row.batch and row.label != BLOCKING_API


def _same_batch(row: Row) -> RowFilter:
    return lambda other: other.batch == row.batch


def enqueue_table(results: Results) -> str:
    def cells(row: Row, rows: Sequence[Row]) -> list[str]:
        return [
            *summary_cells(row.summary("rate")),
            _go_ratio(row, rows, "rate", lambda other: not other.batch),
            _peer_ratio(results, row, rows, "rate", _same_batch(row), False),
        ]

    header = ["system", "API", "tasks/s", "min", "max", "x Go (one call)", "x best Python peer"]
    return _row_table(results, ENQUEUE, header, cells)


def drain_table(results: Results) -> str:
    def cells(row: Row, rows: Sequence[Row]) -> list[str]:
        return [
            *summary_cells(row.summary("rate")),
            _go_ratio(row, rows, "rate", _same_setup(row)),
            _peer_ratio(results, row, rows, "rate", _same_processes(row), False),
            median_cell(row.summary("cpu_per_10k")),
        ]

    header = ["system", "setup", "tasks/s", "min", "max", "x Go (same setup)",
              "x best Python peer (same processes)", "CPU s / 10k tasks"]  # fmt: skip
    return _row_table(results, DRAIN, header, cells)


def latency_table(results: Results) -> str:
    def cells(row: Row, rows: Sequence[Row]) -> list[str]:
        return [
            *(median_cell(row.summary(name)) for name in ("p50", "p95", "p99")),
            _go_ratio(row, rows, "p50", _any),
            _peer_ratio(results, row, rows, "p50", _any, True),
            median_cell(row.summary("idle_rss_mib")),
        ]

    header = ["system", "setup", "p50 ms", "p95 ms", "p99 ms", "p50 x Go",
              "p50 x best Python peer", "idle RSS MiB"]  # fmt: skip
    return _row_table(results, LATENCY, header, cells)


def fan_out_table(results: Results) -> str:
    def cells(row: Row, rows: Sequence[Row]) -> list[str]:
        celery = _first(rows, CELERY, _any)
        speed_up = ratio(celery.summary("seconds"), row.summary("seconds")) if celery else None
        return [
            f"{row.processes} proc x c{row.concurrency}",
            *summary_cells(row.summary("seconds")),
            median_cell(row.summary("rate")),
            median_cell(row.summary("enqueue_seconds")),
            times(speed_up),
        ]

    header = ["system", "API", "workers", "seconds", "min", "max", "tasks/s",
              "enqueue s", "x Celery chord (speed)"]  # fmt: skip
    return _row_table(results, FAN_OUT, header, cells)


def resources_table(results: Results) -> str:
    """CPU per 10,000 tasks (drain, the latency setup) and idle RSS, one line per system."""
    drain = results.rows_of(DRAIN)
    latency = results.rows_of(LATENCY)

    # each latency row with the drain row of the same system and worker setup
    paired = [(row, _first(drain, row.system, _same_worker(row))) for row in latency]
    cpu_rows = [drain_row for _, drain_row in paired if drain_row is not None]
    go_cpu = _first(cpu_rows, GO, _any)
    go_rss = _first(latency, GO, _any)
    peer_cpu = best_peer(results, cpu_rows, "cpu_per_10k", _any, True)
    peer_rss = best_peer(results, latency, "idle_rss_mib", _any, True)
    body = []
    for latency_row, drain_row in paired:
        cpu = drain_row.summary("cpu_per_10k") if drain_row else None
        rss = latency_row.summary("idle_rss_mib")
        body.append(
            [
                results.titles.get(latency_row.system, latency_row.system),
                latency_row.label,
                median_cell(cpu),
                times(ratio(cpu, go_cpu.summary("cpu_per_10k") if go_cpu else None)),
                times(ratio(cpu, peer_cpu[1] if peer_cpu else None)),
                median_cell(rss),
                times(ratio(rss, go_rss.summary("idle_rss_mib") if go_rss else None)),
                times(ratio(rss, peer_rss[1] if peer_rss else None)),
            ]
        )
    header = ["system", "worker setup", "CPU s / 10k tasks", "x Go", "x best Python peer",
              "idle RSS MiB", "x Go", "x best Python peer"]  # fmt: skip
    return table(header, body)


def ceiling_table(results: Results) -> str:
    body = [[row.label, *summary_cells(row.summary("rps"))] for row in results.rows_of(CEILING)]
    return table(["command, clients, pipeline", "requests/s", "min", "max"], body, numeric_from=1)


def _fixed(summary: Summary | Failed | None) -> str:
    return f"{summary.median:.3f}" if isinstance(summary, Summary) else median_cell(summary)


def round_trips_table(results: Results) -> str:
    body = [
        [
            row.label,
            median_cell(row.summary("round_trips_per_poll")),
            _fixed(row.summary("per_queue")),
        ]
        for row in results.rows_of(ROUND_TRIPS)
    ]
    return table(["pool", "round trips per poll", "round trips per queue per poll"], body, 1)


def wait_table(results: Results) -> str:
    body = [
        [row.label, median_cell(row.summary("p50")), median_cell(row.summary("p95"))]
        for row in results.rows_of(WAIT)
    ]
    return table(["setup", "completion → wait returns p50 ms", "p95 ms"], body, 1)


def operator_table(results: Results) -> str:
    body = [
        [row.label, *(median_cell(row.summary(name)) for name in ("p50", "p95", "rss_mib"))]
        for row in results.rows_of(OPERATOR)
    ]
    header = ["pools", "decision latency p50 s", "p95 s", "operator RSS MiB"]
    return table(header, body, 1)


def _count(summary: Summary | Failed | None) -> str:
    return f"{summary.median:,.0f}" if isinstance(summary, Summary) else median_cell(summary)


def _flag(summary: Summary | Failed | None) -> str:
    if not isinstance(summary, Summary):
        return median_cell(summary)
    return "yes" if summary.median >= 1 else "**no**"


COUNTS = ("reversals", "busy_removed", "interrupted", "cron_missed")


def autoscaling_table(results: Results) -> str:
    """One line per scenario and sizer: the scores of issue #18."""
    body = [
        [
            row.variant,
            results.titles.get(row.system, row.system),
            median_cell(row.summary("p95")),
            _flag(row.summary("slo_met")),
            median_cell(row.summary("pod_seconds")),
            times(_median(row, "pod_seconds_x_oracle")),
            _count(row.summary("peak")),
            times(_median(row, "peak_x_needed")),
            *(_count(row.summary(name)) for name in COUNTS),
        ]
        for row in results.rows_of(AUTOSCALING)
    ]
    header = ["scenario", "sizer", "pickup p95 s", "SLO met", "pod-seconds", "x oracle", "peak",
              "peak / needed", "reversals", "busy pods removed (idle left)",
              "tasks interrupted", "cron ticks missed"]  # fmt: skip
    return table(header, body)


def _scenario_list(results: Results) -> str:
    seen = dict.fromkeys(row.label for row in results.rows_of(AUTOSCALING))
    return "\n".join(f"- {label}" for label in seen)


def _autoscaling_charts(results: Results, charts: dict[str, str]) -> str:
    scenarios = dict.fromkeys(row.variant for row in results.rows_of(AUTOSCALING))
    return "".join(_chart(charts, f"{AUTOSCALING}-{scenario}") for scenario in scenarios)


def autoscaling_targets(results: Results) -> list[Target]:
    """Issue #18: per scenario where max allows it, kasynq against the oracle and the HPA."""
    thousand = _first(results.rows_of(OPERATOR), "kasynq-operator", _labelled("1000 pools"))
    p95_1000, rss_1000 = _median(thousand, "p95"), _median(thousand, "rss_mib")
    operator = [
        Target(
            18,
            "decision latency p95 ≤ 3 s at 1,000 pools",
            f"{p95_1000:.2f} s" if p95_1000 is not None else "n/a",
            _judge(p95_1000, 3.0, False),
        ),
        Target(
            18,
            "operator RSS with 1,000 pools ≤ 150 MiB",
            f"{number(rss_1000)} MiB" if rss_1000 is not None else "n/a",
            _judge(rss_1000, 150.0, False),
        ),
    ]
    rows = results.rows_of(AUTOSCALING)
    if not rows:
        return operator
    kasynq = [row for row in rows if row.system == KASYNQ]
    hpa = {row.variant: row for row in rows if row.system == "hpa"}

    def count(check: Callable[[Row], bool], goal: str) -> Target:
        missed = [row.variant for row in kasynq if not check(row)]
        measured = f"{len(kasynq) - len(missed)} of {len(kasynq)} scenarios" + (
            f" (not: {', '.join(missed)})" if missed else ""
        )
        return Target(18, goal, measured, "met" if not missed else "not met")

    def value(row: Row | None, metric: str) -> float:
        found = _median(row, metric)
        return float("nan") if found is None else found

    def beats_hpa(row: Row) -> bool:
        other = hpa.get(row.variant)
        if value(row, "cron_missed") < value(other, "cron_missed"):
            return True
        if value(row, "slo_met") > value(other, "slo_met"):
            return True
        return value(row, "pod_seconds") < value(other, "pod_seconds")

    return [
        *operator,
        count(lambda row: value(row, "slo_met") >= 1, "pickup p95 ≤ target latency"),
        count(
            lambda row: value(row, "pod_seconds_x_oracle") <= 1.15,
            "pod-seconds within 15 % of the oracle",
        ),
        count(
            lambda row: value(row, "peak") <= 1.25 * value(row, "needed") + 1,
            "peak ≤ 1.25 x needed + 1",
        ),
        count(
            lambda row: value(row, "busy_removed") == 0,
            "no busy pod removed while an idle one remains",
        ),
        count(beats_hpa, "beats the HPA/KEDA baseline (SLO and ticks served, else pod-seconds)"),
    ]


@dataclass(frozen=True)
class Target:
    issue: int
    goal: str
    measured: str
    status: str


def _judge(value: float | None, threshold: float, higher_is_better: bool) -> str:
    if value is None:
        return NOT_MEASURABLE
    met = value >= threshold if higher_is_better else value <= threshold
    return "met" if met else "not met"


def _median(row: Row | None, metric: str) -> float | None:
    summary = row.summary(metric) if row else None
    return summary.median if isinstance(summary, Summary) else None


def _ratio_target(
    issue: int, goal: str, value: float | None, reference: float | None, threshold: float
) -> Target:
    value_ratio = value / reference if value is not None and reference else None
    measured = (
        f"{number(value)} / {number(reference)} = {value_ratio:.2f}x"
        if value is not None and reference and value_ratio is not None
        else "n/a"
    )
    return Target(issue, goal, measured, _judge(value_ratio, threshold, True))


def targets(results: Results) -> list[Target]:
    """Every performance target of the issues with the figure measured here."""
    enqueue = results.rows_of(ENQUEUE)
    drain = results.rows_of(DRAIN)
    latency = results.rows_of(LATENCY)
    go_single = _median(_first(enqueue, GO, lambda row: not row.batch), "rate")

    def drain_at(system: str, processes: int, concurrency: int) -> float | None:
        def keep(row: Row) -> bool:
            return (row.processes, row.concurrency) == (processes, concurrency)

        return _median(_first(drain, system, keep), "rate")

    one_process = [row for row in drain if row.processes == 1]
    kasynq_best = max(
        (
            value
            for row in one_process
            if row.system == KASYNQ
            for value in [_median(row, "rate")]
            if value is not None
        ),
        default=None,
    )
    peer = best_peer(results, drain, "rate", lambda row: row.processes == 1, False)
    kasynq_p50 = _median(_first(latency, KASYNQ, _any), "p50")
    go_p50 = _median(_first(latency, GO, _any), "p50")
    issue_7_pools = ("1 pool", "50 pools", "200 pools")
    operator_rows = [row for row in results.rows_of(OPERATOR) if row.label in issue_7_pools]
    p95s = [_median(row, "p95") for row in operator_rows]
    worst_p95 = max((value for value in p95s if value is not None), default=None)
    all_p95 = (
        " / ".join("n/a" if value is None else f"{value:.2f}" for value in p95s)
        + " s at "
        + " / ".join(row.label for row in operator_rows)
    )
    rss_200 = _median(_first(operator_rows, "kasynq-operator", _labelled("200 pools")), "rss_mib")
    largest_pool = next(reversed(results.rows_of(ROUND_TRIPS)), None)
    per_queue = _median(largest_pool, "per_queue")
    per_poll = _median(largest_pool, "round_trips_per_poll")
    return [
        _ratio_target(
            3,
            "AsyncClient.enqueue ≥ 0.8x Go Client.Enqueue",
            _median(_first(enqueue, KASYNQ, _single_async), "rate"),
            go_single,
            0.8,
        ),
        _ratio_target(
            17,
            "blocking Client.enqueue ≥ 0.7x Go Client.Enqueue",
            _median(_first(enqueue, KASYNQ, _labelled(BLOCKING_API)), "rate"),
            go_single,
            0.7,
        ),
        _ratio_target(
            3,
            "AsyncClient.enqueue_many ≥ 3x Go's single-task rate",
            _median(_first(enqueue, KASYNQ, lambda row: row.batch), "rate"),
            go_single,
            3.0,
        ),
        _ratio_target(
            4,
            "drain, 1 process, concurrency 10 ≥ 1.0x Go asynq",
            drain_at(KASYNQ, 1, 10),
            drain_at(GO, 1, 10),
            1.0,
        ),
        _ratio_target(
            4,
            "drain, 1 process, concurrency 100 ≥ 1.0x Go asynq",
            drain_at(KASYNQ, 1, 100),
            drain_at(GO, 1, 100),
            1.0,
        ),
        _ratio_target(
            4,
            "drain per process ≥ 3x the best Python peer (best 1-process rows)",
            kasynq_best,
            peer[1].median if peer else None,
            3.0,
        ),
        Target(
            4,
            "idle pickup p50 ≤ 5 ms",
            f"{number(kasynq_p50)} ms" if kasynq_p50 is not None else "n/a",
            _judge(kasynq_p50, 5.0, False),
        ),
        Target(
            4,
            "idle pickup p50 below Go asynq's (Go sleeps up to 1 s when idle)",
            f"{number(kasynq_p50)} ms vs {number(go_p50)} ms"
            if kasynq_p50 is not None and go_p50 is not None
            else "n/a",
            _judge(kasynq_p50, go_p50, False) if go_p50 is not None else NOT_MEASURABLE,
        ),
        Target(
            7,
            "decision latency, burst → patched spec.replicas, p95 ≤ 3 s (1, 50, 200 pools)",
            all_p95 if operator_rows else "n/a",
            _judge(worst_p95 if None not in p95s else None, 3.0, False),
        ),
        Target(
            7,
            "operator RSS with 200 pools ≤ 150 MiB",
            f"{number(rss_200)} MiB" if rss_200 is not None else "n/a",
            _judge(rss_200, 150.0, False),
        ),
        Target(
            7,
            "Redis round trips per queue per poll: 1",
            f"{number(per_poll)} per poll for {largest_pool.label} = {per_queue:.3f} per queue"
            if largest_pool and per_poll is not None and per_queue is not None
            else "n/a",
            _judge(per_queue, 1.0, False),
        ),
    ]


WEB_TARGET_MS = 300.0


def web_pages(row: Row) -> list[str]:
    """The pages a web-console row timed, in the order measured."""
    return [name.removesuffix(" p50") for name in row.metrics if name.endswith(" p50")]


def web_table(results: Results) -> str:
    body = [
        [
            row.label,
            page,
            median_cell(row.summary(f"{page} p50")),
            median_cell(row.summary(f"{page} p95")),
        ]
        for row in results.rows_of(WEB)
        for page in web_pages(row)
    ]
    return table(["data", "page", "p50 ms", "p95 ms"], body, 2)


def web_targets(results: Results) -> list[Target]:
    """Issue 20: the overview and a task page each render in under 300 ms."""
    row = next(iter(results.rows_of(WEB)), None)
    p95s = {page: _median(row, f"{page} p95") for page in web_pages(row)} if row else {}
    known = [value for value in p95s.values() if value is not None]
    worst = max(known) if known and len(known) == len(p95s) else None
    return [
        Target(
            20,
            f"web console: overview and task pages < {WEB_TARGET_MS:.0f} ms (p95), "
            "1,000 queues, 100,000 tasks in one state",
            ", ".join(f"{page} {number(value)} ms" for page, value in p95s.items() if value)
            or "n/a",
            _judge(worst, WEB_TARGET_MS, False),
        )
    ]


def targets_table(results: Results) -> str:
    body = [
        [f"#{target.issue}", target.goal, target.measured, target.status]
        for target in [*targets(results), *autoscaling_targets(results), *web_targets(results)]
    ]
    return table(["issue", "target", "measured", "status"], body, numeric_from=4)


def _versions_table(results: Results) -> str:
    body = [
        [system, ", ".join(f"{name} {version}" for name, version in packages.items())]
        for system, packages in results.versions.items()
    ]
    return table(["system", "versions"], body, numeric_from=2)


def _chart(charts: dict[str, str], workload: str) -> str:
    path = charts.get(workload)
    return f"\n![{workload}]({path})\n" if path else ""


def _updated(results: Results, workload: str) -> str:
    """A note when `workload` was measured by a later partial run (`--workloads`, or
    `--systems` naming some systems only)."""
    when = results.updated.get(workload)
    return f"Measured by a later run of this workload only: {when}.\n" if when else ""


def _mode(results: Results) -> str:
    if results.quick:
        return (
            "**quick mode** (`make bench-quick`: one run per row and fewer tasks; "
            "use `make bench` for figures to quote)"
        )
    return "full mode (`make bench`)"


METHOD = """\
- Every run starts its own `redis-server` (no persistence) on a loopback port and stops it
  afterwards. Producers and workers are separate processes; Python peers run from their own
  virtualenvs under `$KASYNQ_CACHE/bench-venv`, Go asynq is `tests/interop`'s program
  (`bench-produce`, `bench-worker`), kasynq runs `kasynq worker` from the project's venv.
- The no-op task of every system does the same accounting (`bench/peers/common.py`, and its
  Go twin): it notes its index, start time and pickup latency in memory, and a thread (a
  goroutine in Go) of the worker process flushes the notes every 50 ms in one pipeline to the
  same Redis: `SADD` of the indices, earliest start and latest completion (`ZADD LT`/`GT`),
  the latencies, then `INCRBY` of a completion counter. The handler itself makes no Redis
  call, so the drain rate measures the task queue, not the Redis client library of the
  handler's language. A run where the counter and the distinct indices disagree with the
  number enqueued (a lost or duplicated task) is reported as **FAILED** with the reason,
  never as a number.
- Systems are interleaved: run *r* of every row before run *r + 1* of any. Cells show the
  median and, where given, the min and max over the runs.
- **Enqueue**: one producer process, timed from the first call to the return of the last
  (interpreter start-up excluded); the queue must then hold every task.
- **Drain**: tasks enqueued first (untimed), then the workers start; rate = (N - 1) / (last
  completion - first completion), so start-up is excluded. CPU is the user + system time of
  the worker process tree from the first completion to the last, per 10,000 tasks.
- **Pickup latency**: the worker gets one probe task, then idles for 2 s; then tasks arrive at
  a steady rate; latency = handler start - time taken just before the enqueue call (one
  clock). Percentiles are nearest-rank. Idle RSS is the worker process tree's resident
  memory after the idle pause (forked processes count their shared pages twice).
- **Redis ceiling**: `redis-benchmark` on the same kind of fresh server, to read the figures
  above against what Redis itself does on this machine; `-c 1 -P 1` is the limit of one
  connection sending one command at a time (one round trip each).
- arq runs with `poll_delay=0.01`: its default of 0.5 s caps one worker at about 200 tasks/s
  and gives about 260 ms idle pickup (shared/research/peer-bench.md). Celery runs with results
  off and `--without-gossip --without-mingle --without-heartbeat`. RQ has one job at a time
  per process (SimpleWorker, no fork), so its rows show c1. Dramatiq's two-process row is
  one `dramatiq --processes 2` command.
"""

FAN_OUT_TEXT = """\
One group of no-op tasks (10,000 in full mode) and a callback that runs after all of them and
is handed every member's result, end to end: from just before the producer's enqueue call to
the end of the callback, on one worker process with 10 concurrent tasks, warmed up by a
one-member group first. kasynq: `AsyncClient.enqueue_workflow(group(members).then(callback))`
(members store a result with the ResultWriter; the callback reads them all with
`ctx.dependency_results()`; wire-protocol.md §13). Celery: `chord(group)(callback)` with
Redis as broker and result backend (a chord needs its members' results), threads pool. Every
member must run exactly once and the callback once with every result, or the run is
**FAILED**. "x Celery chord" is Celery's median time over the row's.
"""

ROUND_TRIPS_TEXT = """\
Redis round trips of one autoscaler poll: `kasynq.broker.metrics.sample_queues`, which the
operator calls once per batch of the pools' and queues' polls on one Redis client (those
asked for within 50 ms, `RedisClients.sample`), here with 1, 50 or 200 queues, on a
standalone Redis. Counted as writes on the client's socket (a pipeline is one write, then
its replies), after a first poll that connects and loads the script; Redis's own `INFO
commandstats` must show exactly one script call per queue per poll, or the run fails.
"""

OPERATOR_TEXT = """\
Decision latency and memory: `kasynq-operator` (one process) on the local control plane
(etcd, kube-apiserver, kube-controller-manager; no kubelet, so pods never run), watching one
namespace with 1, 50, 200 or 1,000 AsynqWorkerPools, each with its own AsynqQueue, at the CRDs'
default poll interval (2 s), each run on its own fresh control plane and Redis. A sample
enqueues a burst of 100 tasks into one pool's queue with kasynq's `Client.enqueue_many`,
after a random pause of up to one poll interval, and times until that pool's Deployment
shows a larger `spec.replicas` (read every 50 ms). The cells are medians over the runs of
each run's p50 / p95 over its samples. RSS is the operator's resident memory after the last
sample (every pool's Deployment exists and the operator has polled all pools for the whole
run).
"""


WAIT_TEXT = """\
`info.wait(timeout)` (issue #21, docs/wire-protocol.md §14): one `kasynq worker` process
(c10) on a fresh standalone Redis; one task at a time is enqueued with retention and waited
for. The handler writes `time.time()` as its result just before returning; the figure is the
waiter's `time.time()` on return minus that (one clock), over 50 tasks. Target: p50 <= 5 ms.
"""


AUTOSCALING_TEXT = """\
The autoscaling policy (`kasynq_operator.scaling.decide`) in the queue simulator
(`devenv.simulator`, deterministic with a seed, 0.1 s ticks), against two references run on
the same tasks: an **oracle** that knows the future (the smallest size whose slots cover the
next target-latency window of load, ordered one pod start-up early, with the least headroom
that meets the latency target) and an **HPA/KEDA baseline** (KEDA's Redis list scaler on an
HPA with its defaults: desired = ceil(current x pending per replica / target), 15 s sync,
10 % tolerance, +100 % or +4 pods per step, 300 s scale-down stabilization, no deletion
costs). Pods take the scenario's start-up delay to become ready; a removed pod finishes its
tasks within the 8 s shutdown timeout or requeues them (interrupted). "Needed" is the
oracle's peak; the SLO is the pickup-latency p95 against the scenario's target. Each chart
shows replicas and the oldest pending task's age over time for the three sizers.
"""


WEB_TEXT = """\
Render times of the web console (`kasynq web`, in-process on a loopback port, its Redis
fresh): 1,000 queues with one pending task each but one, which holds 100,000 pending tasks.
Each page is fetched once (its content checked: every queue listed, the 100,000 counted),
then 20 times, timed from the request to the reply's last byte; the cells are medians over
the runs of each run's p50 / p95.
"""


def render_page(
    results: Results,
    charts: dict[str, str],
    params_text: str,
    realnode: dict[str, object] | None = None,
) -> str:
    """The whole of docs/benchmarks.md; `realnode`: the last `make bench-node` figures."""
    unavailable = (
        "\n".join(f"- **{system}**: {reason}" for system, reason in results.unavailable.items())
        or "- none: every system ran."
    )
    machine = table(["item", "value"], [[k, v] for k, v in results.machine.items()], 2)
    sections = [
        "# Benchmarks\n",
        "Generated by `make bench` (`python -m bench`); do not edit by hand. "
        f"This page: {_mode(results)}, {results.started} to {results.finished}; {params_text}.\n",
        "The machine has 2 cores shared by Redis, the producer and the workers, and during this "
        "run also by other work on the same machine; read the figures as ratios measured side "
        "by side in one run, not as absolute capacities.\n",
        "## Targets\n",
        targets_table(results),
        "\n## Machine\n",
        machine,
        "\n## Versions\n",
        _versions_table(results),
        "\n## Systems that did not run\n",
        unavailable,
        "\n## Method\n",
        METHOD,
        "## Enqueue rate (one producer process)\n",
        _updated(results, ENQUEUE),
        enqueue_table(results),
        _chart(charts, ENQUEUE),
        "\n## Drain rate (pre-enqueued no-op tasks)\n",
        _updated(results, DRAIN),
        drain_table(results),
        _chart(charts, DRAIN),
        "\n## Pickup latency of an idle worker\n",
        "Lower is better: a ratio below 1 means faster pickup than the reference.\n",
        _updated(results, LATENCY),
        latency_table(results),
        _chart(charts, LATENCY),
        "\n## Fan-out/fan-in (group + callback)\n",
        FAN_OUT_TEXT,
        _updated(results, FAN_OUT),
        fan_out_table(results),
        "\n## CPU and memory of one worker process\n",
        "Lower is better. CPU: user + system seconds of the worker process tree per 10,000 "
        "tasks in the drain workload, for the worker setup of the latency table; idle RSS from "
        "the latency workload.\n",
        resources_table(results),
        "\n## Redis ceiling on this machine\n",
        ceiling_table(results),
        _chart(charts, CEILING),
        "\n## Operator\n",
        ROUND_TRIPS_TEXT,
        _updated(results, ROUND_TRIPS),
        round_trips_table(results),
        "",
        OPERATOR_TEXT,
        _updated(results, OPERATOR),
        operator_table(results),
        "\n## Waiting for a result\n",
        WAIT_TEXT,
        _updated(results, WAIT),
        wait_table(results),
        "\n## Autoscaling accuracy\n",
        AUTOSCALING_TEXT,
        _updated(results, AUTOSCALING),
        _scenario_list(results),
        "",
        autoscaling_table(results),
        _autoscaling_charts(results, charts),
        "\n## Web console\n",
        WEB_TEXT,
        _updated(results, WEB),
        web_table(results),
        "",
    ]
    page = "\n".join(sections).rstrip() + "\n"
    return splice_section(page, realnode_section(realnode)) if realnode else page


REALNODE_HEADING = "## Real node (example pool)"


def realnode_section(figures: dict[str, object]) -> str:
    """The real-node row (written by `make bench-node`, bench/realnode.py)."""

    def seconds(key: str) -> str:
        value = figures.get(key)
        return "-" if value is None else f"{float(str(value)):.1f}"

    row = [
        f"example pool, {int(str(figures['tasks'])):,} tasks of {figures['task_ms']} ms",
        seconds("replicas_changed_s"),
        seconds("first_new_pod_ready_s"),
        seconds("drained_s"),
        f"{figures['peak_pods']} of {figures['max_replicas']}",
    ]
    return (
        f"{REALNODE_HEADING}\n\n"
        "`make bench-node` (`python -m bench.realnode`), measured "
        f"{figures['measured']}: examples/pool.yaml on the real node (`devenv.realnode`: real "
        "kubelet, containerd and runc, the operator from its image through the chart, Redis "
        "from examples/redis.yaml), a burst enqueued from this machine. Seconds from the "
        "burst's start; peak = most worker pods Ready at once.\n\n"
        + table(
            [
                "workload",
                "burst → spec.replicas changed s",
                "→ first new pod Ready s",
                "→ drained s",
                "peak pods",
            ],
            [row],
            1,
        )
        + "\n"
    )


def splice_section(page: str, section: str) -> str:
    """`page` with its real-node section replaced by `section` (appended if missing)."""
    head, _, _ = page.partition(REALNODE_HEADING)
    return head.rstrip("\n") + "\n\n" + section
