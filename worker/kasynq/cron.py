"""Cron schedules exactly as asynq's Scheduler reads them: robfig/cron v3 `ParseStandard`.

Five fields (`minute hour day-of-month month day-of-week`), the descriptors `@yearly`,
`@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`, `@every <Go duration>`
and a `CRON_TZ=<zone>` / `TZ=<zone>` prefix.

Why our own engine and not croniter: robfig combines day-of-month and day-of-week by its
"star bit" (a field written as `*`/`?`, or `*/1`, makes the day match only if BOTH fields
match; two restricted fields match if EITHER does, so `1-31` is restricted but `*` is not),
walks time with Go's calendar arithmetic (so it skips spring-forward hours and fires twice in
a repeated fall-back hour), gives up after five years, and knows `@every` and `CRON_TZ=`.
croniter differs on each of these, so it would fit only half; the engine below is a direct
reading of robfig's `SpecSchedule.Next` with Go's `time.Date` normalisation, in whole seconds.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kasynq.goformat import SECOND, DurationError, go_quote, parse_go_duration

STAR_BIT = 1 << 63
"""Set in a field's bits when the field was written as a bare star (robfig's starBit)."""

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_YEAR_LIMIT = 5


class CronError(ValueError):
    """A cron spec robfig/cron v3 rejects; the message names the spec and the reason."""


@dataclass(frozen=True)
class _Bounds:
    low: int
    high: int
    names: tuple[str, ...] = ()

    def value(self, text: str) -> int:
        lowered = text.lower()
        if lowered in self.names:
            return self.names.index(lowered) + (1 if self.low == 1 else 0)
        return _non_negative_int(text)


_MINUTES = _Bounds(0, 59)
_HOURS = _Bounds(0, 23)
_DAYS_OF_MONTH = _Bounds(1, 31)
_MONTHS = _Bounds(
    1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
)
_DAYS_OF_WEEK = _Bounds(0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat"))


def _non_negative_int(text: str) -> int:
    """Go's `strconv.Atoi` then a sign check, with robfig's messages."""
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        raise CronError(
            f"failed to parse int from {text}: strconv.Atoi: parsing {go_quote(text)}: "
            "invalid syntax"
        )
    number = int(text)
    if number < 0:
        raise CronError(f"negative number ({number}) not allowed: {text}")
    return number


def _bits(low: int, high: int, step: int) -> int:
    return sum(1 << value for value in range(low, high + 1, step))


def _range_bits(expr: str, bounds: _Bounds) -> int:
    """Bits of `*`, `?`, `N`, `N-M`, each optionally `/step` (robfig's getRange)."""
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    extra = 0
    if low_and_high[0] in ("*", "?"):
        start, end, extra = bounds.low, bounds.high, STAR_BIT
    else:
        start = bounds.value(low_and_high[0])
        if len(low_and_high) == 1:
            end = start
        elif len(low_and_high) == 2:
            end = bounds.value(low_and_high[1])
        else:
            raise CronError(f"too many hyphens: {expr}")
    step = 1
    if len(range_and_step) == 2:
        step = _non_negative_int(range_and_step[1])
        if len(low_and_high) == 1:
            end = bounds.high
        if step > 1:
            extra = 0
    elif len(range_and_step) > 2:
        raise CronError(f"too many slashes: {expr}")
    if start < bounds.low:
        raise CronError(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise CronError(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise CronError(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise CronError(f"step of range should be a positive number: {expr}")
    return _bits(start, end, step) | extra


def _field_bits(field: str, bounds: _Bounds) -> int:
    bits = 0
    for expr in (part for part in field.split(",") if part):
        bits |= _range_bits(expr, bounds)
    return bits


def load_location(name: str) -> tzinfo:
    """Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the host zone, else tzdata."""
    if name in ("", "UTC"):
        return UTC
    if name == "Local":
        with open("/etc/localtime", "rb") as local:
            return ZoneInfo.from_file(local, key="Local")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(f"unknown time zone {name}") from exc


# --- Go time arithmetic on (Unix seconds, zone) ------------------------------------------


def _offset(unix: int, zone: tzinfo) -> int:
    offset = datetime.fromtimestamp(unix, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _go_date(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: tzinfo
) -> int:
    """Unix seconds of Go's `time.Date` (overflowing fields normalised, DST gaps as Go)."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    days = date(year, month, 1).toordinal() - _EPOCH_ORDINAL + day - 1
    wall = days * 86_400 + hour * 3600 + minute * 60 + second
    # Go looks the offset up at the wall clock read as UTC, then once more at the result.
    return wall - _offset(wall - _offset(wall, zone), zone)


@dataclass(frozen=True)
class _Clock:
    """A Go `time.Time` in whole seconds: an instant and the zone its fields are read in."""

    unix: int
    zone: tzinfo

    @functools.cached_property
    def local(self) -> datetime:
        return datetime.fromtimestamp(self.unix, self.zone)

    @property
    def weekday(self) -> int:
        """Go's weekday: Sunday is 0."""
        return (self.local.weekday() + 1) % 7

    def add(self, seconds: int) -> _Clock:
        return _Clock(self.unix + seconds, self.zone)

    def date(
        self, day_offset: int = 0, *, month_offset: int = 0, keep_hour: bool = False
    ) -> _Clock:
        """Go's `time.Date` of this clock's day (+ offsets) at midnight or at its hour."""
        local = self.local
        hour = local.hour if keep_hour else 0
        unix = _go_date(
            local.year, local.month + month_offset, local.day + day_offset, hour, 0, 0, self.zone
        )
        return _Clock(unix, self.zone)

    def add_date(self, months: int = 0, days: int = 0) -> _Clock:
        """Go's `AddDate`: the same wall clock that many months/days later."""
        local = self.local
        unix = _go_date(
            local.year,
            local.month + months,
            local.day + days,
            local.hour,
            local.minute,
            local.second,
            self.zone,
        )
        return _Clock(unix, self.zone)


# --- Schedules -----------------------------------------------------------------------------


class Schedule(Protocol):
    """What both schedule kinds offer: robfig's `Next`."""

    def next(self, after: datetime) -> datetime | None:
        """The first activation strictly after `after`, in its zone; None if none in 5 years."""
        ...


def _as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SpecSchedule:
    """A five-field (or descriptor) schedule as bit sets; `zone` None = the scheduler's zone."""

    minute: int
    hour: int
    dom: int
    month: int
    dow: int
    zone: tzinfo | None = None

    def _day_matches(self, clock: _Clock) -> bool:
        dom_match = bool(1 << clock.local.day & self.dom)
        dow_match = bool(1 << clock.weekday & self.dow)
        if self.dom & STAR_BIT or self.dow & STAR_BIT:
            return dom_match and dow_match
        return dom_match or dow_match

    def next(self, after: datetime) -> datetime | None:
        after = _as_aware(after)
        original_zone = after.tzinfo
        assert original_zone is not None
        zone = self.zone or original_zone
        # Start at the upcoming whole second.
        clock = _Clock(int(after.timestamp() // 1) + 1, zone)
        found = self._walk(clock)
        return None if found is None else datetime.fromtimestamp(found.unix, original_zone)

    def _walk(self, clock: _Clock) -> _Clock | None:
        """robfig's field-by-field search; `added` resets the lower fields once."""
        added = False
        year_limit = clock.local.year + _YEAR_LIMIT
        while True:  # each pass is robfig's `WRAP:` label
            if clock.local.year > year_limit:
                return None
            wrapped = False
            while not 1 << clock.local.month & self.month:
                if not added:
                    added = True
                    clock = clock.date(1 - clock.local.day)
                clock = clock.add_date(months=1)
                if clock.local.month == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not self._day_matches(clock):
                if not added:
                    added = True
                    clock = clock.date()
                clock = clock.add_date(days=1)
                hour = clock.local.hour
                if hour:  # DST moved midnight: go back to it, or on to the next one
                    clock = clock.add((24 - hour) * 3600 if hour > 12 else -hour * 3600)
                if clock.local.day == 1:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not 1 << clock.local.hour & self.hour:
                if not added:
                    added = True
                    clock = clock.date(keep_hour=True)
                clock = clock.add(3600)
                if clock.local.hour == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            while not 1 << clock.local.minute & self.minute:
                if not added:
                    added = True
                    clock = clock.add(-(clock.unix % 60))
                clock = clock.add(60)
                if clock.local.minute == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            # The second field is always 0 in the standard parser.
            while clock.local.second != 0:
                if not added:
                    added = True
                clock = clock.add(1)
                if clock.local.second == 0:
                    wrapped = True
                    break
            if wrapped:
                continue
            return clock


@dataclass(frozen=True)
class EverySchedule:
    """`@every <duration>`: a constant delay in whole seconds (at least one second).

    `next` is robfig's ConstantDelaySchedule (the delay after `after`, truncated to the
    second). `tick_after` instead anchors ticks at the Unix epoch, so every replica of a
    leader-elected scheduler computes the same tick instants; used for tick identity.
    """

    seconds: int

    def next(self, after: datetime) -> datetime | None:
        after = _as_aware(after)
        return datetime.fromtimestamp(int(after.timestamp() // 1) + self.seconds, after.tzinfo)

    def tick_after(self, after: datetime) -> datetime:
        after = _as_aware(after)
        unix = int(after.timestamp() // self.seconds + 1) * self.seconds
        return datetime.fromtimestamp(unix, after.tzinfo)


def _every(text: str) -> EverySchedule:
    try:
        nanos = parse_go_duration(text)
    except DurationError as exc:
        raise CronError(f"failed to parse duration @every {text}: {exc}") from exc
    return EverySchedule(max(nanos, SECOND) // SECOND)


_DOW_ALL = _bits(0, 6, 1) | STAR_BIT
_DOM_ALL = _bits(1, 31, 1) | STAR_BIT
_MONTH_ALL = _bits(1, 12, 1) | STAR_BIT
_HOUR_ALL = _bits(0, 23, 1) | STAR_BIT
_DESCRIPTORS = {
    "@yearly": (1, 1, 1 << 1, 1 << 1, _DOW_ALL),
    "@annually": (1, 1, 1 << 1, 1 << 1, _DOW_ALL),
    "@monthly": (1, 1, 1 << 1, _MONTH_ALL, _DOW_ALL),
    "@weekly": (1, 1, _DOM_ALL, _MONTH_ALL, 1),
    "@daily": (1, 1, _DOM_ALL, _MONTH_ALL, _DOW_ALL),
    "@midnight": (1, 1, _DOM_ALL, _MONTH_ALL, _DOW_ALL),
    "@hourly": (1, _HOUR_ALL, _DOM_ALL, _MONTH_ALL, _DOW_ALL),
}


def parse(spec: str) -> SpecSchedule | EverySchedule:
    """Parse a spec as robfig/cron v3 `ParseStandard`; raises `CronError` naming the spec."""
    try:
        return _parse(spec)
    except CronError as exc:
        raise CronError(f"invalid cron spec {spec!r}: {exc}") from None


def _parse(spec: str) -> SpecSchedule | EverySchedule:
    if not spec:
        raise CronError("empty spec string")
    zone: tzinfo | None = None
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space = spec.find(" ")
        if space < 0:
            raise CronError("a TZ= prefix must be followed by a space and a schedule")
        name = spec[spec.index("=") + 1 : space]
        try:
            zone = load_location(name)
        except (CronError, OSError) as exc:
            raise CronError(f"provided bad location {name}: {exc}") from None
        spec = spec[space:].strip()
    if spec.startswith("@"):
        if spec.startswith("@every "):
            return _every(spec.removeprefix("@every "))
        if spec not in _DESCRIPTORS:
            raise CronError(f"unrecognized descriptor: {spec}")
        minute, hour, dom, month, dow = _DESCRIPTORS[spec]
        return SpecSchedule(minute, hour, dom, month, dow, zone)
    fields = spec.split()
    if len(fields) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(fields)}: {fields}")
    return SpecSchedule(
        minute=_field_bits(fields[0], _MINUTES),
        hour=_field_bits(fields[1], _HOURS),
        dom=_field_bits(fields[2], _DAYS_OF_MONTH),
        month=_field_bits(fields[3], _MONTHS),
        dow=_field_bits(fields[4], _DAYS_OF_WEEK),
        zone=zone,
    )
