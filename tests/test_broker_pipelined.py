"""The server's pipelined Redis connection, against real redis-server processes."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio
from kasynq.broker.batching import STREAM_CHUNK, BatchingClient
from kasynq.broker.pipelined import ConnectionSettings, PipelinedConnection, settings_from_pool
from kasynq.connection import sentinel_redis
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from devenv.redis_servers import running_redis


def _settings(url: str, **options: object) -> ConnectionSettings:
    settings = settings_from_pool(redis.asyncio.Redis.from_url(url, **options).connection_pool)
    assert settings is not None
    return settings


async def test_batches_sent_before_replies_arrive_keep_their_order(redis_url: str) -> None:
    connection = await PipelinedConnection.open(_settings(redis_url))
    try:
        first = connection.send([("INCR", "n")] * 3)
        second = connection.send([("INCR", "n"), ("GET", "n"), ("LPUSH", "n", "x")])
        replies = await asyncio.gather(*first, *second, return_exceptions=True)
        assert replies[:5] == [1, 2, 3, 4, b"4"]
        assert isinstance(replies[5], ResponseError) and "WRONGTYPE" in str(replies[5])
        [missing] = connection.send([("EVALSHA", "0" * 40, 0)])
        with pytest.raises(NoScriptError):
            await missing
    finally:
        connection.close()


async def test_a_batch_resolves_once_with_every_reply_in_order_errors_in_place(
    redis_url: str,
) -> None:
    connection = await PipelinedConnection.open(_settings(redis_url))
    try:
        replies = await connection.send_batch([("INCR", "b"), ("LPUSH", "b", "x"), ("GET", "b")])
        assert replies[0] == 1 and replies[2] == b"1"
        assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
        assert await connection.send_batch([]) == []
    finally:
        connection.close()


async def test_a_batch_cut_by_an_overdue_reply_keeps_what_arrived() -> None:
    with running_redis() as server:
        connection = await PipelinedConnection.open(_settings(server.url, socket_timeout=0.5))
        replies = await connection.send_batch([("PING",), ("BLPOP", "empty", 3), ("PING",)])
        assert replies[0] == b"PONG"
        assert all(isinstance(reply, RedisTimeoutError) for reply in replies[1:])
        assert not connection.is_open


async def test_execute_many_writes_commands_while_they_are_still_being_made(
    redis_url: str,
) -> None:
    client = BatchingClient(redis.asyncio.Redis.from_url(redis_url))
    await client.eval("return 1", 0)  # opens the pipelined connection
    observer = redis.Redis.from_url(redis_url)

    def commands() -> Iterator[tuple[str, str]]:
        for _ in range(STREAM_CHUNK):
            yield ("INCR", "made")
        # the first chunk must reach Redis before the caller is done making commands
        deadline = time.monotonic() + 2
        while int(observer.get("made") or 0) < STREAM_CHUNK:
            assert time.monotonic() < deadline, "nothing written before the last command"
            time.sleep(0.005)
        yield ("INCR", "made")

    try:
        replies = await client.execute_many(commands())
        assert replies == list(range(1, STREAM_CHUNK + 2))
    finally:
        observer.close()
        await client.close_connection()
        await client.client.aclose()


async def test_session_is_set_up_like_redis_pys() -> None:
    with running_redis() as server:
        with server.client() as conn:
            conn.config_set("requirepass", "s3cret")
        url = f"redis://:s3cret@127.0.0.1:{server.port}/3?client_name=kasynq-test"
        settings = _settings(url)
        assert settings.handshake() == [
            ("AUTH", "s3cret"),
            ("SELECT", 3),
            ("CLIENT", "SETNAME", "kasynq-test"),
        ]
        connection = await PipelinedConnection.open(settings)
        try:
            await connection.send([("SET", "where", "db3")])[0]
        finally:
            connection.close()
        check = redis.Redis(port=server.port, password="s3cret", db=3)
        assert check.get("where") == b"db3"
        wrong = _settings(f"redis://:wrong@127.0.0.1:{server.port}/0")
        with pytest.raises(AuthenticationError):
            await PipelinedConnection.open(wrong)


async def test_an_overdue_reply_fails_every_waiting_call_and_closes() -> None:
    with running_redis() as server:
        assert server.process is not None
        connection = await PipelinedConnection.open(_settings(server.url, socket_timeout=0.5))
        server.process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            futures = connection.send([("PING",), ("PING",)])
            results = await asyncio.gather(*futures, return_exceptions=True)
            assert all(isinstance(result, RedisTimeoutError) for result in results)
            assert 0.4 < time.monotonic() - started < 2.0
            assert not connection.is_open
            [late] = connection.send([("PING",)])
            with pytest.raises(RedisConnectionError):
                await late
        finally:
            server.process.send_signal(signal.SIGCONT)


async def test_batching_client_reconnects_after_redis_restarts() -> None:
    with running_redis(persistent=True) as server:
        client = BatchingClient(redis.asyncio.Redis.from_url(server.url))
        incr = "return redis.call('INCR', KEYS[1])"
        assert await client.eval(incr, 1, "k") == 1
        server.restart()
        deadline = time.monotonic() + 5
        while True:
            try:
                assert await client.eval(incr, 1, "k") == 2
                break
            except RedisConnectionError:  # the call that met the restart, at most
                assert time.monotonic() < deadline, "no reconnection within 5 s"
                await asyncio.sleep(0.05)
        await client.close_connection()
        await client.client.aclose()


def test_pools_it_cannot_mirror_keep_redis_py() -> None:
    client = sentinel_redis("mymaster", [("127.0.0.1", 1)])
    assert settings_from_pool(client.connection_pool) is None
