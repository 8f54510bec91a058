"""Key names are byte-identical to Go's internal/base (wire-protocol.md §2)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from kasynq import keys


def test_per_queue_keys_share_the_queue_hash_tag() -> None:
    assert keys.task_key("q", "id1") == "asynq:{q}:t:id1"
    assert keys.pending_key("q") == "asynq:{q}:pending"
    assert keys.active_key("q") == "asynq:{q}:active"
    assert keys.scheduled_key("q") == "asynq:{q}:scheduled"
    assert keys.retry_key("q") == "asynq:{q}:retry"
    assert keys.archived_key("q") == "asynq:{q}:archived"
    assert keys.lease_key("q") == "asynq:{q}:lease"
    assert keys.completed_key("q") == "asynq:{q}:completed"
    assert keys.paused_key("q") == "asynq:{q}:paused"
    assert keys.processed_total_key("q") == "asynq:{q}:processed"
    assert keys.failed_total_key("q") == "asynq:{q}:failed"
    assert keys.group_key("q", "g") == "asynq:{q}:g:g"
    assert keys.aggregation_set_key("q", "g", "s") == "asynq:{q}:g:g:s"
    assert keys.all_groups("q") == "asynq:{q}:groups"
    assert keys.all_aggregation_sets("q") == "asynq:{q}:aggregation_sets"
    assert keys.task_key_prefix("Q x") == "asynq:{Q x}:t:"
    assert keys.group_key_prefix("q") == "asynq:{q}:g:"


def test_daily_keys_use_the_utc_date() -> None:
    tokyo = timezone(timedelta(hours=9))
    assert keys.processed_key("q", datetime(2026, 2, 3, 8, 0, tzinfo=tokyo)) == (
        "asynq:{q}:processed:2026-02-02"
    )
    assert keys.failed_key("q", datetime(2026, 2, 3, 23, 59, tzinfo=UTC)) == (
        "asynq:{q}:failed:2026-02-03"
    )
    assert keys.processed_key("q", date(2026, 1, 1)) == "asynq:{q}:processed:2026-01-01"


def test_unique_key_distinguishes_nil_and_empty_payload() -> None:
    assert keys.unique_key("q", "t", None) == "asynq:{q}:unique:t:"
    assert keys.unique_key("q", "t", b"") == ("asynq:{q}:unique:t:d41d8cd98f00b204e9800998ecf8427e")
    assert keys.unique_key("q", "t", b"hello") == (
        "asynq:{q}:unique:t:5d41402abc4b2a76b9719d911017c592"
    )


def test_global_and_server_keys() -> None:
    assert keys.ALL_QUEUES == "asynq:queues"
    assert keys.ALL_SERVERS == "asynq:servers"
    assert keys.ALL_WORKERS == "asynq:workers"
    assert keys.ALL_SCHEDULERS == "asynq:schedulers"
    assert keys.CANCEL_CHANNEL == "asynq:cancel"
    assert keys.server_info_key("h", 42, "sid") == "asynq:servers:{h:42:sid}"
    assert keys.workers_key("h", 42, "sid") == "asynq:workers:{h:42:sid}"
    assert keys.scheduler_entries_key("h:1:u") == "asynq:schedulers:{h:1:u}"
    assert keys.scheduler_history_key("e") == "asynq:scheduler_history:e"
    assert keys.semaphore_key("s") == "asynq:sema:s"
