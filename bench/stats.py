"""Summaries of repeated runs: median with min and max, nearest-rank percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Failed:
    """A run whose outcome must not be reported as a number (lost or duplicated tasks...)."""

    reason: str


@dataclass(frozen=True)
class Summary:
    """Median, min and max over the runs of one row."""

    median: float
    low: float
    high: float
    runs: int


Outcome = float | Failed


def summarize(outcomes: Sequence[Outcome]) -> Summary | Failed | None:
    """The row's summary; any failed run fails the whole row; no runs gives None."""
    failures = [outcome for outcome in outcomes if isinstance(outcome, Failed)]
    if failures:
        reasons = "; ".join(sorted({failure.reason for failure in failures}))
        return Failed(f"{len(failures)}/{len(outcomes)} runs failed: {reasons}")
    values = [outcome for outcome in outcomes if not isinstance(outcome, Failed)]
    if not values:
        return None
    return Summary(statistics.median(values), min(values), max(values), len(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in (0, 1]) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def ratio(value: Summary | Failed | None, reference: Summary | Failed | None) -> float | None:
    """Median over median, or None when either side has no usable number."""
    if not isinstance(value, Summary) or not isinstance(reference, Summary):
        return None
    if reference.median == 0:
        return None
    return value.median / reference.median
