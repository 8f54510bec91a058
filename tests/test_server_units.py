"""Pure server logic: retry policy, queue order, deadlines, worker settings."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest
from kasynq.cli.worker import loop_factory
from kasynq.config import ConfigError, parse_queues, resolve
from kasynq.periodic import Periodic
from kasynq.processor import compute_deadline, queue_order_function
from kasynq.proto.asynq_pb2 import TaskMessage
from kasynq.retry import (
    RevokeTask,
    SkipRetry,
    default_retry_delay,
    error_text,
    is_revoke_task,
    is_skip_retry,
)
from kasynq.server import ServerConfig
from kasynq.task import Task


@pytest.mark.parametrize("retried", [0, 1, 5])
def test_default_retry_delay_is_gos_formula(retried: int) -> None:
    delays = {default_retry_delay(retried, ValueError(), Task("t")) for _ in range(2000)}
    low = retried**4 + 15
    assert min(delays) >= low
    assert max(delays) <= low + 29 * (retried + 1)
    assert len(delays) > 10


def test_sentinels_have_go_texts_and_are_found_in_chains() -> None:
    assert str(SkipRetry()) == "skip retry for the task"
    assert str(SkipRetry("bad input")) == "bad input: skip retry for the task"
    assert str(RevokeTask()) == "revoke task"
    try:
        try:
            raise SkipRetry()
        except SkipRetry as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_skip_retry(outer)
        assert not is_revoke_task(outer)
    assert error_text(ValueError()) == "ValueError"


def test_weighted_order_matches_priorities_and_strict_is_fixed() -> None:
    order = queue_order_function({"critical": 6, "default": 3, "low": 1}, strict=False)
    firsts = Counter(order()[0] for _ in range(20000))
    assert abs(firsts["critical"] / 20000 - 0.6) < 0.03
    assert abs(firsts["low"] / 20000 - 0.1) < 0.02
    assert sorted(order()) == ["critical", "default", "low"]
    strict = queue_order_function({"low": 1, "critical": 6, "default": 3}, strict=True)
    assert strict() == ["critical", "default", "low"]


def test_deadline_follows_go_rules() -> None:
    now = 1_700_000_000.5
    assert compute_deadline(TaskMessage(timeout=10), now) == now + 10
    assert compute_deadline(TaskMessage(deadline=1_700_000_005), now) == 1_700_000_005
    both = TaskMessage(timeout=10, deadline=1_700_000_005)
    assert compute_deadline(both, now) == 1_700_000_005
    assert compute_deadline(TaskMessage(), now) == now + 1800


def test_server_config_normalises_like_go() -> None:
    config = ServerConfig(queues={"": 3, "a": 0, "b": 2}, concurrency=0, shutdown_timeout=0)
    assert config.queues == {"b": 2}
    assert config.concurrency >= 1
    assert config.shutdown_timeout == 8.0
    assert ServerConfig().queues == {"default": 1}
    with pytest.raises(ValueError, match="group_grace_period"):
        ServerConfig(group_grace_period=0.5)


def test_queues_parse_from_flag_or_mapping() -> None:
    assert parse_queues("critical=6, default=3,low") == {"critical": 6, "default": 3, "low": 1}
    assert parse_queues({"a": 2}) == {"a": 2}
    with pytest.raises(ConfigError, match="'a' must be an integer"):
        parse_queues("a=x")
    with pytest.raises(ConfigError, match=">= 1"):
        parse_queues("a=0")


def test_settings_file_then_flags(tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        "redis_url: redis://r:6379/1\nhandlers: app:mux\nqueues: {a: 2}\nconcurrency: 4\n"
    )
    settings = resolve(config, {"concurrency": 7, "queues": None})
    assert (settings.redis_url, settings.handlers, settings.queues) == (
        "redis://r:6379/1",
        "app:mux",
        {"a": 2},
    )
    assert settings.concurrency == 7
    config.write_text("handlers: app:mux\nconcurency: 4\n")
    with pytest.raises(ConfigError, match=r"unknown key.*concurency"):
        resolve(config, {})
    with pytest.raises(ConfigError, match="handlers is required"):
        resolve(None, {})
    with pytest.raises(ConfigError, match="concurrency"):
        resolve(None, {"handlers": "a:b", "concurrency": 0})


def test_event_loop_setting_picks_uvloop_unless_told_otherwise() -> None:
    import uvloop

    assert resolve(None, {"handlers": "a:b"}).event_loop == "auto"
    assert loop_factory("auto") is uvloop.new_event_loop
    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None
    with pytest.raises(ConfigError, match="event_loop must be one of auto, uvloop, asyncio: "
                       "event_loop='trio'"):  # fmt: skip
        resolve(None, {"handlers": "a:b", "event_loop": "trio"})


async def test_stop_ends_a_component_whose_cancellation_was_swallowed() -> None:
    """Python 3.11's wait_for (redis-py sends every command through it) can eat a cancel."""
    swallowed = asyncio.Event()

    async def work() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            if swallowed.is_set():
                raise
            swallowed.set()  # as wait_for does when its operation completes in the same turn

    periodic = Periodic("swallower", work, interval=0.01, first_delay=0)
    periodic.start()
    await asyncio.sleep(0.05)
    stopping = asyncio.ensure_future(periodic.stop())
    done, _ = await asyncio.wait({stopping}, timeout=1)  # wait_for would cancel it again
    assert swallowed.is_set()
    assert done, "stop() hangs after a swallowed cancellation"


async def test_stop_abandons_a_component_that_never_ends() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if released.is_set():
                    raise

    periodic = Periodic("stubborn", stubborn, interval=1, first_delay=0)
    periodic.start()
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await periodic.stop(within=0.3)
    assert 0.3 <= time.monotonic() - started < 1
    released.set()
