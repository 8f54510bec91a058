"""PNG charts of a session's results; runs under the peers venv, which has matplotlib.

Bar charts per workload, and per autoscaling scenario replicas and latency over time for
kasynq, the oracle and the HPA baseline.

python -m bench.charts docs/benchmarks/results.json docs/benchmarks
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.results import AUTOSCALING, CEILING, DRAIN, ENQUEUE, LATENCY, Results, Row
from bench.stats import Summary

CHARTS = {
    ENQUEUE: ("rate", "tasks/s (higher is better)"),
    DRAIN: ("rate", "tasks/s (higher is better)"),
    LATENCY: ("p50", "pickup p50, ms (lower is better)"),
    CEILING: ("rps", "requests/s"),
}
COLOURS = {"kasynq": "tab:green", "go-asynq": "tab:blue", "oracle": "black", "hpa": "tab:red"}
SIZERS = ("kasynq", "oracle", "hpa")
PEER_COLOUR = "tab:gray"


def _bars(results: Results, rows: list[Row], metric: str) -> list[tuple[str, Summary, str]]:
    bars = []
    for row in rows:
        summary = row.summary(metric)
        if isinstance(summary, Summary):
            name = f"{results.titles.get(row.system, row.system)}: {row.label}"
            bars.append((name, summary, COLOURS.get(row.system, PEER_COLOUR)))
    return bars


def draw(results: Results, workload: str, path: Path) -> bool:
    """Draw one workload's chart; False when it has nothing to draw."""
    metric, axis_label = CHARTS[workload]
    bars = _bars(results, results.rows_of(workload), metric)
    if not bars:
        return False
    figure, axes = plt.subplots(figsize=(9, 0.35 * len(bars) + 1.2))
    positions = range(len(bars))
    medians = [summary.median for _, summary, _ in bars]
    errors = [
        [summary.median - summary.low for _, summary, _ in bars],
        [summary.high - summary.median for _, summary, _ in bars],
    ]
    axes.barh(positions, medians, xerr=errors, color=[colour for *_, colour in bars])
    axes.set_yticks(list(positions), [name for name, _, _ in bars], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel(axis_label)
    axes.set_title(f"{workload}: median, whiskers min to max")
    if workload == LATENCY:
        axes.set_xscale("log")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def draw_scenario(results: Results, scenario: str, path: Path) -> bool:
    """Replicas (top) and oldest pending age (bottom) over time, one line per sizer."""
    series = {sizer: results.series.get(f"{scenario}/{sizer}") for sizer in SIZERS}
    if not any(series.values()):
        return False
    figure, (replicas, latency) = plt.subplots(2, 1, sharex=True, figsize=(9, 5))
    for sizer, points in series.items():
        if not points:
            continue
        style = {"color": COLOURS[sizer], "label": results.titles.get(sizer, sizer)}
        replicas.step(points["t"], points["replicas"], where="post", **style)
        latency.plot(points["t"], points["latency"], **style)
    replicas.set_ylabel("replicas")
    replicas.legend(fontsize=8)
    replicas.set_title(f"{AUTOSCALING}: {scenario}")
    latency.set_ylabel("oldest pending, s")
    latency.set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return True


def main(results_path: Path, out_dir: Path) -> None:
    results = Results.load(results_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    for workload in CHARTS:
        target = out_dir / f"{workload}.png"
        if draw(results, workload, target):
            print(target.name)
        else:
            target.unlink(missing_ok=True)
    for scenario in dict.fromkeys(row.variant for row in results.rows_of(AUTOSCALING)):
        target = out_dir / f"{AUTOSCALING}-{scenario}.png"
        if draw_scenario(results, scenario, target):
            print(target.name)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
