"""`kasynq stats` and `kasynq queue ls` list a queue's priority lanes under it (§15)."""

from __future__ import annotations

from kasynq.client import Client
from kasynq.task import Task

from tests.cli.clirun import kasynq, kasynq_json, table_rows


def test_stats_and_queue_ls_group_a_queue_with_its_lanes(redis_url: str) -> None:
    with Client.from_url(redis_url) as client:
        for priority in ("low", "high", "default"):
            client.enqueue(Task("job"), queue="mail", priority=priority)
        client.enqueue(Task("job"), queue="bulk.high")  # a queue named so: a lane of "bulk"
        client.enqueue(Task("job"), queue="mailer")
    stats = kasynq(redis_url, "stats")
    assert stats.exit_code == 0, stats.output
    queue_rows = [row[:3] for row in table_rows(stats.stdout) if len(row) > 2]  # not Redis's
    assert queue_rows == [
        ["bulk.high", "high", "1"],
        ["mail.high", "high", "1"],
        ["mail", "default", "1"],
        ["mail.low", "low", "1"],
        ["mailer", "", "1"],
    ]
    assert kasynq_json(redis_url, "stats")["lanes"] == {
        "bulk": ["bulk.high"],
        "mail": ["mail.high", "mail", "mail.low"],
    }
    listing = kasynq(redis_url, "queue", "ls")
    assert table_rows(listing.stdout) == [
        ["bulk.high", "high"],
        ["mail.high", "high"],
        ["mail", "default"],
        ["mail.low", "low"],
        ["mailer", ""],
    ]
    assert kasynq_json(redis_url, "queue", "ls") == [
        "bulk.high",
        "mail",
        "mail.high",
        "mail.low",
        "mailer",
    ]
