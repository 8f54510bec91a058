"""Pure parts of the benchmark harness: summaries, percentiles, ratios."""

from __future__ import annotations

import pytest

from bench.stats import Failed, Summary, percentile, ratio, summarize


def test_summary_is_median_min_max() -> None:
    assert summarize([3.0, 1.0, 2.0]) == Summary(median=2.0, low=1.0, high=3.0, runs=3)


def test_one_failed_run_fails_the_row_without_a_number() -> None:
    summary = summarize([100.0, Failed("lost 2, duplicated 0 of 10 tasks"), 120.0])
    assert isinstance(summary, Failed)
    assert summary.reason == "1/3 runs failed: lost 2, duplicated 0 of 10 tasks"


def test_no_runs_summarize_to_none() -> None:
    assert summarize([]) is None


@pytest.mark.parametrize(
    ("fraction", "expected"), [(0.5, 50.0), (0.95, 95.0), (0.99, 99.0), (1.0, 100.0), (0.001, 1.0)]
)
def test_nearest_rank_percentile(fraction: float, expected: float) -> None:
    values = [float(value) for value in range(100, 0, -1)]
    assert percentile(values, fraction) == expected


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile([1.0], 1.5)


def test_ratio_needs_two_numbers() -> None:
    assert ratio(Summary(30.0, 1.0, 40.0, 3), Summary(10.0, 9.0, 11.0, 3)) == 3.0
    assert ratio(Failed("crash"), Summary(10.0, 9.0, 11.0, 3)) is None
    assert ratio(Summary(30.0, 1.0, 40.0, 3), None) is None
    assert ratio(Summary(30.0, 1.0, 40.0, 3), Summary(0.0, 0.0, 0.0, 3)) is None
