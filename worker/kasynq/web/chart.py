"""The history chart: processed and failed per day as an inline SVG drawn here.

Two polylines on a shared scale need no chart library: the page stays one request, works
without JavaScript, and ships nothing fetched at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

from kasynq.broker.inspect import DailyStats
from kasynq.web.html import Markup, tag

WIDTH, HEIGHT, MARGIN = 640, 180, 32
SERIES = (("processed", "#2b7a2b"), ("failed", "#b3261e"))


def history_chart(history: Sequence[DailyStats]) -> Markup:
    """Processed/failed per day, oldest left; `history` is newest first (as Inspector.history)."""
    days = list(reversed(history))
    peak = max([1, *(max(day.processed, day.failed) for day in days)])
    step = (WIDTH - 2 * MARGIN) / max(1, len(days) - 1)

    def point(index: int, value: int) -> str:
        x = MARGIN + index * step
        y = HEIGHT - MARGIN - value / peak * (HEIGHT - 2 * MARGIN)
        return f"{x:.1f},{y:.1f}"

    lines = [
        tag(
            "polyline",
            {
                "points": " ".join(point(i, getattr(day, name)) for i, day in enumerate(days)),
                "fill": "none",
                "stroke": colour,
                "stroke_width": 2,
                "data_series": name,
            },
        )
        for name, colour in SERIES
    ]
    labels = [
        tag(
            "text",
            {"x": f"{MARGIN + i * step:.1f}", "y": HEIGHT - 10, "text_anchor": "middle"},
            day.date.strftime("%m-%d"),
        )
        for i, day in enumerate(days)
        if i % max(1, len(days) // 7) == 0
    ]
    legend = [
        tag("text", {"x": WIDTH - 150 + 75 * n, "y": 16, "fill": colour}, name)
        for n, (name, colour) in enumerate(SERIES)
    ]
    axis = tag(
        "line",
        {"x1": MARGIN, "y1": HEIGHT - MARGIN, "x2": WIDTH - MARGIN, "y2": HEIGHT - MARGIN},
    )
    return tag(
        "svg",
        {
            "viewBox": f"0 0 {WIDTH} {HEIGHT}",
            "role": "img",
            "aria_label": f"processed and failed per day, peak {peak}",
            "class_": "history",
        },
        tag("text", {"x": 4, "y": 16}, f"peak {peak}/day"),
        axis,
        lines,
        labels,
        legend,
    )
