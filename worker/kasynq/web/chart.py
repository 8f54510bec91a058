"""Line charts as inline SVG drawn here: a queue's history, a pool's replicas over time.

A few polylines on a shared scale need no chart library: the page stays one request, works
without JavaScript, and ships nothing fetched at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

from kasynq.broker.inspect import DailyStats
from kasynq.web.html import Markup, tag

WIDTH, HEIGHT, MARGIN = 640, 180, 32
COLOURS = ("#2b7a2b", "#b3261e", "#1f5fa8")
MAX_LABELS = 7


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    unit: str,
    chart_id: str | None = None,
) -> Markup:
    """One polyline per (name, values) over the x `labels`, scaled to the largest value.

    The geometry is on the element (`data-margin`, the viewBox) so that the page's script
    can redraw a chart given `chart_id` from live samples (the overview's throughput).
    """
    peak = max([1.0, *(value for _, values in series for value in values)])
    step = (WIDTH - 2 * MARGIN) / max(1, len(labels) - 1)

    def point(index: int, value: float) -> str:
        x = MARGIN + index * step
        y = HEIGHT - MARGIN - value / peak * (HEIGHT - 2 * MARGIN)
        return f"{x:.1f},{y:.1f}"

    lines = [
        tag(
            "polyline",
            {
                "points": " ".join(point(i, value) for i, value in enumerate(values)),
                "fill": "none",
                "stroke": colour,
                "stroke_width": 2,
                "data_series": name,
            },
        )
        for (name, values), colour in zip(series, COLOURS, strict=False)
    ]
    every = max(1, -(-len(labels) // MAX_LABELS))
    ticks = [
        tag(
            "text",
            {"x": f"{MARGIN + i * step:.1f}", "y": HEIGHT - 10, "text_anchor": "middle"},
            text,
        )
        for i, text in enumerate(labels)
        if i % every == 0
    ]
    legend = [
        tag("text", {"x": WIDTH - 90 * (len(series) - n), "y": 16, "class_": f"s{n}"}, name)
        for n, (name, _) in enumerate(series)
    ]
    axis = tag(
        "line",
        {"x1": MARGIN, "y1": HEIGHT - MARGIN, "x2": WIDTH - MARGIN, "y2": HEIGHT - MARGIN},
    )
    names = " and ".join(name for name, _ in series)
    return tag(
        "svg",
        {
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "role": "img",
            "aria_label": f"{names}, peak {peak:g}",
            "class_": "chart",
            "id": chart_id,
            "data_margin": MARGIN,
            "data_unit": unit,
        },
        tag("text", {"x": 4, "y": 16, "class_": "peak"}, f"peak {peak:g} {unit}"),
        axis,
        lines,
        ticks,
        legend,
    )


def history_chart(history: Sequence[DailyStats]) -> Markup:
    """Processed/failed per day, oldest left; `history` is newest first (as Inspector.history)."""
    days = list(reversed(history))
    return line_chart(
        [day.date.strftime("%m-%d") for day in days],
        [
            ("processed", [float(day.processed) for day in days]),
            ("failed", [float(day.failed) for day in days]),
        ],
        "per day",
    )
