"""Go's text forms that reach Redis through the scheduler (wire-protocol.md §9.5).

Go's Inspector parses `SchedulerEntry.enqueue_options` back with Go's own parsers, so option
strings must be written exactly as Go's `Duration.String`, the `UnixDate` layout and `%q`
print them; `@every` durations are read with the grammar of Go's `time.ParseDuration`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}
_MAX_DURATION = (1 << 63) - 1
_COMPONENT = re.compile(r"(\d*)(?:(\.)(\d*))?([^\d.]*)")


class DurationError(ValueError):
    """Text that Go's `time.ParseDuration` rejects; the message quotes Go's wording."""


def parse_go_duration(text: str) -> int:
    """Nanoseconds of a Go duration string such as `1h30m`, `1.5s` or `-300ms`."""
    quoted = go_quote(text)
    rest = text
    negative = rest[:1] == "-"
    if rest[:1] in "-+" and rest:
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationError(f"time: invalid duration {quoted}")
    total = Fraction(0)
    while rest:
        match = _COMPONENT.match(rest)
        assert match is not None  # the pattern matches every string (possibly empty)
        whole, dot, fraction, unit = match.groups()
        if not whole and not fraction:
            raise DurationError(f"time: invalid duration {quoted}")
        if not unit:
            raise DurationError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise DurationError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        value = Fraction(int(whole or "0"))
        if dot and fraction:
            value += Fraction(int(fraction), 10 ** len(fraction))
        total += value * _UNITS[unit]
        if total > _MAX_DURATION + (1 if negative else 0):
            raise DurationError(f"time: invalid duration {quoted}")
        rest = rest[match.end() :]
    nanos = int(total)
    return -nanos if negative else nanos


def _fraction(value: int, precision: int) -> tuple[str, int]:
    """Go's fmtFrac: the `.digits` of value's last `precision` digits, zeros trimmed."""
    digits = []
    printed = False
    for _ in range(precision):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    text = "." + "".join(reversed(digits)) if printed else ""
    return text, value


def format_go_duration(nanos: int) -> str:
    """Go's `time.Duration.String`: `1h0m0s`, `1.5s`, `300ms`, `0s`."""
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    value = abs(nanos)
    if value < SECOND:
        if value < MICROSECOND:
            return f"{sign}{value}ns"
        precision, unit = (3, "\u00b5s") if value < MILLISECOND else (6, "ms")
        fraction, whole = _fraction(value, precision)
        return f"{sign}{whole}{fraction}{unit}"
    fraction, seconds = _fraction(value, 9)
    text = f"{seconds % 60}{fraction}s"
    minutes = seconds // 60
    if minutes:
        text = f"{minutes % 60}m{text}"
        hours = minutes // 60
        if hours:
            text = f"{hours}h{text}"
    return sign + text


def format_timedelta(delta: timedelta) -> str:
    """`format_go_duration` of a timedelta (microsecond precision)."""
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return format_go_duration(micros * MICROSECOND)


def _zone_text(moment: datetime) -> str:
    """Go's `MST` element: the zone abbreviation, or `-0700` when the zone has none."""
    tzinfo = moment.tzinfo
    if tzinfo is UTC:
        return "UTC"
    named = not isinstance(tzinfo, timezone)
    name = moment.tzname() if named else None
    if name:
        return name
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_unix_date(moment: datetime) -> str:
    """Go's `time.UnixDate` layout in the moment's own zone: `Tue Feb  3 10:00:00 UTC 2026`.

    Naive datetimes are taken as UTC. Locale-independent (no strftime names).
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (
        f"{_WEEKDAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} {moment.day:2d} "
        f"{moment:%H:%M:%S} {_zone_text(moment)} {moment.year}"
    )


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def _quote_rune(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:  # a lone surrogate is no valid rune: Go prints U+FFFD
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(text: str) -> str:
    """Go's `%q` / `strconv.Quote` of a string: Go escapes, printable Unicode kept as is."""
    return '"' + "".join(_quote_rune(char) for char in text) + '"'
