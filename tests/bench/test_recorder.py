"""The no-op handlers' accounting: in-memory notes flushed to the Redis the harness reads."""

from __future__ import annotations

import os
import time

import pytest
import redis

from bench.peers.common import LATENCY_KEY, URL_ENV, Recorder
from bench.workloads import Accounting, RunFailed, check_exactly_once, read_accounting


def _flushed(conn: redis.Redis, done: int) -> Accounting:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        accounting = read_accounting(conn)
        if accounting.done >= done:
            return accounting
        time.sleep(0.02)
    raise AssertionError(f"the recorder flushed {read_accounting(conn)}, not {done} completions")


@pytest.fixture
def conn(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    """The harness's connection to the Redis the worker processes flush to."""
    monkeypatch.setenv(URL_ENV, redis_url)
    return redis.Redis.from_url(redis_url)


def test_notes_reach_the_harness_and_a_duplicate_fails_the_run(conn: redis.Redis) -> None:
    recorder = Recorder()
    before = time.time()
    recorder.record(0, before - 0.5)
    recorder.record(1, before)
    recorder.record(1, before)
    accounting = _flushed(conn, 3)
    assert (accounting.done, accounting.distinct) == (3, 2)
    assert accounting.first is not None and accounting.last is not None
    assert before <= accounting.first <= accounting.last <= time.time()
    latencies = sorted(float(value) for value in conn.lrange(LATENCY_KEY, 0, -1))
    assert len(latencies) == 3 and 0.5 <= latencies[-1] < 1.5
    with pytest.raises(RunFailed, match="lost 0, duplicated 1 of 2 tasks"):
        check_exactly_once(accounting, 2)


def test_a_forked_worker_does_not_flush_its_parents_notes(conn: redis.Redis) -> None:
    recorder = Recorder()
    recorder.record(4, time.time())  # may still be unflushed when the child is forked
    child = os.fork()
    if child == 0:
        recorder.record(5, time.time())
        time.sleep(0.5)  # several flush intervals
        os._exit(0)
    os.waitpid(child, 0)
    _flushed(conn, 2)
    time.sleep(0.2)
    check_exactly_once(read_accounting(conn), 2)
