"""What a benchmark session measured, as plain data that round-trips through JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Failed, Outcome, Summary, summarize

ENQUEUE = "enqueue"
DRAIN = "drain"
LATENCY = "latency"
CEILING = "redis-ceiling"
ROUND_TRIPS = "operator-round-trips"
OPERATOR = "operator"
AUTOSCALING = "autoscaling"
WAIT = "workflow-wait"
FAN_OUT = "fan-out"
WEB = "web-console"


@dataclass
class Row:
    """One line of a workload's table: a system in one configuration, over all its runs."""

    workload: str
    system: str
    label: str
    processes: int = 1
    concurrency: int = 0
    variant: str = ""
    batch: bool = False
    metrics: dict[str, list[Outcome]] = field(default_factory=dict)

    def add_run(self, outcome: dict[str, float] | Failed, names: tuple[str, ...]) -> None:
        """Record one run: a value per metric, or the same failure for every metric."""
        for name in names:
            value = outcome if isinstance(outcome, Failed) else outcome[name]
            self.metrics.setdefault(name, []).append(value)

    def summary(self, metric: str) -> Summary | Failed | None:
        return summarize(self.metrics.get(metric, []))


@dataclass
class Results:
    quick: bool
    started: str
    finished: str = ""
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    python_peers: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    series: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    """Time series for charts, by "<scenario>/<sizer>" (autoscaling workload)."""
    updated: dict[str, str] = field(default_factory=dict)
    """Workloads measured later by a partial session (`--workloads`): when, by workload."""

    def merged_into(
        self, previous: Results, workloads: list[str], systems: list[str] | None = None
    ) -> Results:
        """`previous` with the rows (and the charts' series) of `workloads` replaced by this
        session's, for `systems` (None: every system): a partial run keeps the other figures
        on the page, and says when it ran and which systems it measured."""
        previous.rows = [
            row
            for row in previous.rows
            if row.workload not in workloads or (systems is not None and row.system not in systems)
        ]
        previous.rows += self.rows
        previous.series.update(self.series)
        previous.titles.update(self.titles)
        previous.unavailable.update(self.unavailable)
        mode = " (quick mode)" if self.quick else ""
        versions = "; ".join(
            f"{self.titles.get(system, system)}: "
            + ", ".join(f"{name} {version}" for name, version in packages.items())
            for system, packages in self.versions.items()
        )  # the page's versions table stays the earlier session's
        moved = {
            name: value
            for name, value in self.machine.items()
            if previous.machine.get(name) != value
        }
        where = (
            "; on another machine: " + ", ".join(f"{k} {v}" for k, v in moved.items())
            if moved
            else ""
        )
        only = (
            " (" + ", ".join(self.titles.get(system, system) for system in systems) + " only)"
            if systems is not None
            else ""
        )
        for workload in workloads:  # and its machine table too: say where this run was
            previous.updated[workload] = (
                f"{self.started} to {self.finished}{mode}{only}, with {versions}{where}"
            )
        return previous

    def row(self, workload: str, system: str, label: str, **details: Any) -> Row:
        """The row for (workload, system, label), created on first use."""
        for existing in self.rows:
            if (existing.workload, existing.system, existing.label) == (workload, system, label):
                return existing
        created = Row(workload, system, label, **details)
        self.rows.append(created)
        return created

    def rows_of(self, workload: str) -> list[Row]:
        return [row for row in self.rows if row.workload == workload]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Results:
        data = json.loads(path.read_text())
        rows = [
            Row(
                **{key: value for key, value in row.items() if key != "metrics"},
                metrics={
                    name: [_decode(value) for value in values]
                    for name, values in row["metrics"].items()
                },
            )
            for row in data.pop("rows")
        ]
        return cls(**{"updated": {}, **data}, rows=rows)


def _decode(value: Any) -> Outcome:
    if isinstance(value, dict):
        return Failed(str(value["reason"]))
    return float(value)
