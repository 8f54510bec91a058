"""Checklist F55 (issue 5): kasynq's cron engine gives the same fire times as Go asynq's
Scheduler (robfig/cron v3 `ParseStandard`, the Scheduler's Location applied), for a table of
specs, reference times and locations, including daylight-saving transitions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kasynq import cron

from devenv.goasynq import GoAsynq

pytestmark = pytest.mark.requires_go

SPECS = [
    "*/5 * * * *",
    "0 9 * * 1-5",
    "@every 90s",
    "@every 1h30m10s",
    "@every 0s",  # robfig rounds up to one second
    "@every 500ms",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@yearly",
    "CRON_TZ=Asia/Tokyo 0 0 * * *",
    "TZ=America/New_York 30 2 * * *",
    "0 0 13 * 5",  # day-of-month OR day-of-week (both restricted)
    "0 0 */1 * 5",  # */1 counts as a star: AND
    "0 0 1-31 * 5",  # a full range is restricted: OR
    "15 14 1 * *",
    "0 22 * * 1-5",
    "23 0-20/2 * * *",
    "5 4 * * sun",
    "0 0,12 1 */2 *",
    "0 0 29 2 *",
    "0 0 31 * *",
    "59 23 * DEC SAT",
    "0 2 * * *",
    "30 1 * * *",
]
REFERENCES = [
    1_700_000_000.0,  # 2023-11-14T22:13:20Z
    1_710_054_000.5,  # 2024-03-10T07:00:00.5Z, just before the US spring-forward
    1_730_613_600.0,  # 2024-11-03T06:00:00Z, the US fall-back night
    1_711_846_799.0,  # 2024-03-30T00:59:59Z, before the EU change
]
LOCATIONS = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata"]
FIRES = 6


def python_next_times(spec: str, reference: float, location: str, count: int) -> list[int]:
    schedule = cron.parse(spec)
    moment = datetime.fromtimestamp(reference, UTC).astimezone(cron.load_location(location))
    times: list[int] = []
    for _ in range(count):
        upcoming = schedule.next(moment)
        assert upcoming is not None
        times.append(int(upcoming.timestamp()))
        moment = upcoming
    return times


def test_next_fire_times_match_go(go_asynq: Path) -> None:
    queries = [
        {"spec": spec, "from": reference, "location": location, "n": FIRES}
        for spec in SPECS
        for reference in REFERENCES
        for location in LOCATIONS
    ]
    answers = GoAsynq(go_asynq, []).run("cron-next", stdin=queries)
    mismatches = []
    for query, answer in zip(queries, answers, strict=True):
        assert "error" not in answer, answer
        ours = python_next_times(query["spec"], query["from"], query["location"], FIRES)
        if ours != answer["next"]:
            mismatches.append((query, ours, answer["next"]))
    assert mismatches == []


@pytest.mark.parametrize(
    "spec", ["bad", "* * * *", "61 * * * *", "@unknown", "CRON_TZ=Nowhere/X * * * * *"]
)
def test_invalid_specs_are_rejected_by_both(go_asynq: Path, spec: str) -> None:
    (answer,) = GoAsynq(go_asynq, []).run("cron-next", stdin=[{"spec": spec, "from": 0}])
    assert "error" in answer
    with pytest.raises(cron.CronError):
        cron.parse(spec)
