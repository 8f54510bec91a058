"""Go text forms used in scheduler option strings (wire-protocol.md §9.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from kasynq.goformat import (
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    DurationError,
    format_go_duration,
    format_timedelta,
    format_unix_date,
    go_quote,
    parse_go_duration,
)


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1100, "1.1\u00b5s"),
        (2200 * 1000, "2.2ms"),
        (300 * MILLISECOND, "300ms"),
        (SECOND, "1s"),
        (1500 * MILLISECOND, "1.5s"),
        (59 * SECOND, "59s"),
        (MINUTE, "1m0s"),
        (HOUR, "1h0m0s"),
        (HOUR + 30 * MINUTE, "1h30m0s"),
        (48 * HOUR, "48h0m0s"),
        (-1500 * MILLISECOND, "-1.5s"),
        ((1 << 63) - 1, "2562047h47m16.854775807s"),
    ],
)
def test_duration_string(nanos: int, text: str) -> None:
    assert format_go_duration(nanos) == text


def test_timedelta_string() -> None:
    assert format_timedelta(timedelta(minutes=30)) == "30m0s"
    assert format_timedelta(timedelta(days=1)) == "24h0m0s"


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0", 0),
        ("1h30m", 90 * MINUTE),
        ("1.5s", 1500 * MILLISECOND),
        (".5s", 500 * MILLISECOND),
        ("1.s", SECOND),
        ("-300ms", -300 * MILLISECOND),
        ("+2m", 2 * MINUTE),
        ("1us", 1000),
        ("1\u00b5s", 1000),
        ("1\u03bcs", 1000),
        ("3ns", 3),
    ],
)
def test_parse_duration(text: str, nanos: int) -> None:
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        (".s", 'time: invalid duration ".s"'),
        ("9999999999h", 'time: invalid duration "9999999999h"'),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(DurationError, match="^" + message.replace(".", r"\.") + "$"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 2, 3, 10, 0, tzinfo=UTC), "Tue Feb  3 10:00:00 UTC 2026"),
        (datetime(2026, 2, 3, 10, 0), "Tue Feb  3 10:00:00 UTC 2026"),
        (
            datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Asia/Tokyo")),
            "Mon Mar  2 09:30:00 JST 2026",
        ),
        (
            datetime(2026, 7, 14, 23, 5, 9, tzinfo=ZoneInfo("Europe/Paris")),
            "Tue Jul 14 23:05:09 CEST 2026",
        ),
        (
            datetime(2026, 7, 14, 1, 0, tzinfo=timezone(timedelta(hours=9))),
            "Tue Jul 14 01:00:00 +0900 2026",
        ),
        (
            datetime(2026, 7, 14, 1, 0, tzinfo=timezone(-timedelta(hours=3, minutes=30))),
            "Tue Jul 14 01:00:00 -0330 2026",
        ),
    ],
)
def test_unix_date(moment: datetime, text: str) -> None:
    assert format_unix_date(moment) == text


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("critical", '"critical"'),
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("tab\tnew\nline", r'"tab\tnew\nline"'),
        ("bell\x07", r'"bell\a"'),
        ("esc\x1b", r'"esc\x1b"'),
        ("del\x7f", r'"del\x7f"'),
        ("caf\u00e9 \u65e5\u672c", '"caf\u00e9 \u65e5\u672c"'),
        ("soft\u00adhyphen", r'"soft\u00adhyphen"'),
        ("nbsp\u00a0", r'"nbsp\u00a0"'),
        ("\U000e0001tag", r'"\U000e0001tag"'),
    ],
)
def test_go_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted
