"""The blocking Client: thread-safe, refuses use after close, never deadlocks its own loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from kasynq import keys
from kasynq._sync import LoopThread
from kasynq.client import Client
from kasynq.task import Task


def test_many_threads_share_one_client(redis_url: str) -> None:
    with Client.from_url(redis_url) as producer, ThreadPoolExecutor(8) as pool:
        infos = list(pool.map(lambda n: producer.enqueue(Task("t", str(n).encode())), range(200)))
    assert len({info.id for info in infos}) == 200
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.llen(keys.pending_key("default")) == 200


def test_closed_client_refuses_work(redis_url: str) -> None:
    producer = Client.from_url(redis_url)
    producer.close()
    producer.close()
    with pytest.raises(RuntimeError, match="closed"):
        producer.enqueue(Task("t"))


def test_loop_thread_refuses_calls_from_its_own_thread() -> None:
    loop = LoopThread()
    try:

        async def reenter() -> str:
            try:
                return loop.run(asyncio.sleep(0, "never"))
            except RuntimeError as exc:
                return str(exc)

        assert "own event loop" in loop.run(reenter())
        assert loop.run(asyncio.sleep(0, "ok")) == "ok"
    finally:
        loop.close()
    assert loop.closed
