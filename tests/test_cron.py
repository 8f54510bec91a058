"""robfig/cron v3 semantics of `kasynq.cron`: a table of specs and fire times, and Go parity."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from kasynq import cron

from devenv import goasynq

NEW_YORK = ZoneInfo("America/New_York")
REFERENCE = datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC)  # a Saturday


def fire_times(spec: str, after: datetime, count: int = 3) -> list[str]:
    schedule = cron.parse(spec)
    times = []
    for _ in range(count):
        upcoming = schedule.next(after)
        assert upcoming is not None
        times.append(upcoming.isoformat())
        after = upcoming
    return times


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("*/5 * * * *", ["12:05", "12:10", "12:15"]),
        ("0 9 * * 1-5", ["03-09T09:00", "03-10T09:00", "03-11T09:00"]),
        ("@every 90s", ["12:02:00", "12:03:30", "12:05:00"]),
        ("@hourly", ["13:00", "14:00", "15:00"]),
        ("@daily", ["03-08T00:00", "03-09T00:00", "03-10T00:00"]),
        ("@midnight", ["03-08T00:00", "03-09T00:00", "03-10T00:00"]),
        ("@weekly", ["03-08T00:00", "03-15T00:00", "03-22T00:00"]),
        ("@monthly", ["04-01T00:00", "05-01T00:00", "06-01T00:00"]),
        ("@yearly", ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"]),
        ("@annually", ["2027-01-01T00:00", "2028-01-01T00:00", "2029-01-01T00:00"]),
        ("CRON_TZ=Asia/Tokyo 0 0 * * *", ["03-07T15:00", "03-08T15:00", "03-09T15:00"]),
        ("TZ=Asia/Tokyo 0 0 * * *", ["03-07T15:00", "03-08T15:00", "03-09T15:00"]),
        ("0 0 1 jan,JUL *", ["07-01T00:00", "2027-01-01T00:00", "2027-07-01T00:00"]),
        ("0 0 29 2 *", ["2028-02-29T00:00", "2032-02-29T00:00", "2036-02-29T00:00"]),
        # Day rule: a star in either field means both must match ...
        ("0 0 * * 1", ["03-09T00:00", "03-16T00:00", "03-23T00:00"]),
        ("0 0 ? * 1", ["03-09T00:00", "03-16T00:00", "03-23T00:00"]),
        ("0 0 */1 * 1", ["03-09T00:00", "03-16T00:00", "03-23T00:00"]),
        # ... two restricted fields match if either does; `*/2` and `1-31` are restricted.
        ("0 0 1 * 1", ["03-09T00:00", "03-16T00:00", "03-23T00:00"]),
        ("0 0 */2 * 1", ["03-09T00:00", "03-11T00:00", "03-13T00:00"]),
        ("0 0 1-31 * 1", ["03-08T00:00", "03-09T00:00", "03-10T00:00"]),
    ],
)
def test_next_fire_times(spec: str, expected: list[str]) -> None:
    def full(short: str) -> str:
        text = (
            short
            if short[:4].isdigit()
            else f"2026-{short}"
            if "T" in short
            else f"2026-03-07T{short}"
        )
        return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat()

    assert fire_times(spec, REFERENCE) == [full(item) for item in expected]


def test_every_below_one_second_runs_every_second_and_truncates() -> None:
    assert cron.parse("@every 500ms") == cron.EverySchedule(1)
    assert cron.parse("@every 1.9s") == cron.EverySchedule(1)
    assert cron.parse("@every 1h30m") == cron.EverySchedule(5400)


def test_every_ticks_are_anchored_at_the_epoch() -> None:
    every = cron.parse("@every 90s")
    assert isinstance(every, cron.EverySchedule)
    assert every.tick_after(REFERENCE) == datetime(2026, 3, 7, 12, 1, 30, tzinfo=UTC)


def test_spring_forward_skips_the_missing_hour() -> None:
    after = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)
    assert fire_times("30 2 * * *", after) == [
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
        "2026-03-11T02:30:00-04:00",
    ]


def test_fall_back_fires_twice_in_the_repeated_hour() -> None:
    after = datetime(2026, 10, 31, 12, tzinfo=NEW_YORK)
    assert fire_times("30 1 * * *", after) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-02T01:30:00-05:00",
    ]


def test_no_match_within_five_years_is_none() -> None:
    assert cron.parse("0 0 30 2 *").next(REFERENCE) is None


def test_zone_prefix_overrides_the_callers_zone() -> None:
    after = datetime(2026, 3, 7, 12, tzinfo=NEW_YORK)
    upcoming = cron.parse("CRON_TZ=UTC 0 0 * * *").next(after)
    assert upcoming == datetime(2026, 3, 8, tzinfo=UTC)
    assert upcoming is not None and upcoming.tzinfo is NEW_YORK


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty spec string"),
        ("* * * *", "expected exactly 5 fields, found 4"),
        ("* * * * * *", "expected exactly 5 fields, found 6"),
        ("60 * * * *", "end of range (60) above maximum (59): 60"),
        ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("* * * * 7", "end of range (7) above maximum (6): 7"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
        ("*/2/3 * * * *", "too many slashes: */2/3"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("@every 1", 'time: missing unit in duration "1"'),
        ("@every 5y", 'time: unknown unit "y" in duration "5y"'),
        ("CRON_TZ=Nowhere/Zone 0 0 * * *", "provided bad location Nowhere/Zone"),
        ("TZ=UTC", "a TZ= prefix must be followed by a space"),
    ],
)
def test_invalid_specs_name_spec_and_reason(spec: str, message: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse(spec)
    assert f"invalid cron spec {spec!r}" in str(caught.value)
    assert message in str(caught.value)


PARITY_SPECS = [
    "*/5 * * * *",
    "0 9 * * 1-5",
    "@every 90s",
    "@hourly",
    "CRON_TZ=Asia/Tokyo 0 0 * * *",
    "30 2 * * *",
    "30 1 * * *",
    "0 0 */2 * 1",
    "0 0 1-31 * 1",
    "TZ=America/Sao_Paulo 0 0 * * *",
    "TZ=Australia/Lord_Howe 30 2 * * *",
    "15 */3 1,15 * sun",
]
PARITY_ZONES = ["UTC", "America/New_York", "Europe/Berlin"]
PARITY_REFERENCES = [
    datetime(2026, 3, 7, 12, 0, 30, tzinfo=UTC),
    datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),
]


@pytest.mark.requires_go
@pytest.mark.parametrize("spec", PARITY_SPECS)
def test_next_fire_times_match_go(go: goasynq.GoAsynq, spec: str) -> None:
    schedule = cron.parse(spec)
    for zone in PARITY_ZONES:
        for reference in PARITY_REFERENCES:
            expected = go.cron_next(spec, reference.timestamp() + 0.25, zone, count=6)
            after: datetime | None = reference.replace(microsecond=250_000).astimezone(
                cron.load_location(zone)
            )
            ours = []
            for _ in range(6):
                assert after is not None
                after = schedule.next(after)
                assert after is not None
                ours.append(int(after.timestamp()))
            assert ours == expected, (spec, zone, reference)
