"""A Redis client view that pipelines concurrent script calls.

The processor issues many independent `EVALSHA`s at once (one dequeue per free slot, one
outcome write per finished task). `BatchingClient.evalsha` / `.eval` queue each call and await
its own result; the calls queued in one event-loop turn go out together. On a standalone
Redis they go on one `PipelinedConnection`, written at once even while earlier batches'
replies are outstanding; with Sentinel, one redis-py pipeline at a time; on Cluster, redis-py's
cluster pipeline. Every call is still one atomic script with Go's KEYS and ARGV, executed in
the order issued, so Redis sees exactly the state transitions of Go's server, just fewer
network round trips. Errors (including NOSCRIPT, which `LuaScript.run` answers with an
`EVAL`) are raised to the caller that issued the call. Every other command is forwarded to
the wrapped client unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import redis.asyncio
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from kasynq.broker.pipelined import ConnectionSettings, PipelinedConnection, settings_from_pool
from kasynq.connection import AsyncRedis

MAX_BATCH = 512
"""Upper bound of commands per redis-py pipeline, to keep single replies and latency small."""

SEND_EVERY = 4
"""Calls queued in one loop turn that are written without waiting for the turn's end: Redis
starts on them while the loop produces the rest (no-op drain at concurrency 10: +10-15%)."""

STREAM_CHUNK = 64
"""Commands per write of `execute_many` on the pipelined connection (enqueue_many of 1,000
tasks: +20-40% over one write at the end; 16, 32, 128 and 256 measured slower)."""

Queued = tuple[tuple[Any, ...], asyncio.Future[Any]]


class BatchingClient:
    """Wraps an asyncio Redis client; use it where `Broker` expects a client."""

    def __init__(self, client: AsyncRedis) -> None:
        self.client = client
        self._queued: list[Queued] = []
        self._flusher: asyncio.Task[None] | None = None
        self._settings: ConnectionSettings | None = None
        if isinstance(client, redis.asyncio.Redis):
            self._settings = settings_from_pool(client.connection_pool)
        self._connection: PipelinedConnection | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._send_scheduled = False

    @classmethod
    def for_standalone(cls, client: AsyncRedis) -> BatchingClient | None:
        """A BatchingClient when `client` talks to a standalone Redis we can pipeline to."""
        batching = cls(client)
        return batching if batching._settings is not None else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> asyncio.Future[Any]:
        return self._queue(("EVALSHA", sha, numkeys, *keys_and_args))

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> asyncio.Future[Any]:
        return self._queue(("EVAL", script, numkeys, *keys_and_args))

    def send(self, *command: Any) -> asyncio.Future[Any]:
        """Queue any command with this loop turn's calls; its reply (or error) when it comes."""
        return self._queue(command)

    async def execute_many(self, commands: Iterable[tuple[Any, ...]]) -> list[Any]:
        """Send `commands` together; each one's reply, or its error as an exception, in order.

        On the pipelined connection they are written every `STREAM_CHUNK` commands as
        `commands` yields them, so Redis runs the first while the caller builds the rest;
        no reply is awaited before the last command is written.
        """
        connection = self._usable_connection(asyncio.get_running_loop())
        if connection is None:  # not connected yet, Sentinel or Cluster: the queue
            futures = [self._queue(command, send_early=False) for command in commands]
            return list(await asyncio.gather(*futures, return_exceptions=True))
        self._send_queued()  # calls queued before this one go first
        batches = [connection.send_batch(chunk) for chunk in _chunks(commands, STREAM_CHUNK)]
        return [reply for replies in await asyncio.gather(*batches) for reply in replies]

    async def close_connection(self) -> None:
        """Close the pipelined connection (the wrapped client stays open); fail queued calls."""
        if self._connecting is not None:
            self._connecting.cancel()
        if self._connection is not None:
            self._connection.close()
        _fail(self._take_queued(), RedisConnectionError("the server's Redis connection is closed"))

    def _queue(self, command: tuple[Any, ...], send_early: bool = True) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if self._settings is None:
            self._queued.append((command, future))
            if self._flusher is None or self._flusher.done():
                self._flusher = loop.create_task(self._flush())
            return future
        connection = self._usable_connection(loop)
        if connection is not None and connection.idle and not self._queued:
            connection.send([command], [future])  # nothing to wait behind: no extra loop turn
            return future
        self._queued.append((command, future))
        if send_early and connection is not None and len(self._queued) >= SEND_EVERY:
            self._send_queued()  # Redis starts on these while the loop produces the rest
        elif not self._send_scheduled:
            self._send_scheduled = True
            loop.call_soon(self._send_queued)
        return future

    def _usable_connection(self, loop: asyncio.AbstractEventLoop) -> PipelinedConnection | None:
        connection = self._connection
        if connection is None or not connection.is_open:
            return None
        if connection.loop is not loop:  # used from another event loop than it was opened in
            with contextlib.suppress(RuntimeError):
                connection.close()
            self._connection = None
            return None
        return connection

    def _take_queued(self) -> list[Queued]:
        queued, self._queued = self._queued, []
        return queued

    def _send_queued(self) -> None:
        # At the end of the loop turn of the first queued call, every SEND_EVERY calls, and
        # once a connection is open.
        self._send_scheduled = False
        connection = self._usable_connection(asyncio.get_running_loop())
        if connection is not None:
            queued = self._take_queued()
            if queued:
                connection.send(
                    [command for command, _ in queued], [future for _, future in queued]
                )
        elif self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        assert self._settings is not None
        try:
            self._connection = await PipelinedConnection.open(self._settings)
        except Exception as exc:  # every waiting call fails with it; the next call retries
            _fail(self._take_queued(), exc)
        finally:
            self._connecting = None
        self._send_queued()

    async def _flush(self) -> None:
        # Starts one loop turn after the first call: every call of that turn is queued by now.
        while self._queued:
            batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
            commands = [command for command, _ in batch]
            try:
                if isinstance(self.client, redis.asyncio.Redis):
                    results = await self._send_raw(self.client.connection_pool, commands)
                else:
                    results = await self._send_pipeline(commands)
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _send_pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Cluster clients: redis-py's pipeline (one round trip per node)."""
        pipe = self.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute(raise_on_error=False))

    @staticmethod
    async def _send_raw(
        pool: redis.asyncio.ConnectionPool, commands: list[tuple[Any, ...]]
    ) -> list[Any]:
        """One connection, all commands packed by hiredis in one write, replies read in order.

        Cheaper than redis-py's pipeline (Python-level packing and bookkeeping): this runs for
        every dequeue and outcome write. The connection's socket timeout bounds the whole
        batch, not each reply (a timer per reply cost more than the rest of the read). Error
        replies are returned in place, not raised.
        """
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            async with asyncio.timeout(connection.socket_timeout):
                await connection.send_packed_command(
                    b"".join(pack_command(command) for command in commands), check_health=False
                )
                results: list[Any] = []
                for _ in commands:
                    try:
                        results.append(await connection.read_response(timeout=math.inf))
                    except ResponseError as exc:
                        results.append(exc)
            return results
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        finally:
            await pool.release(connection)


def _chunks(items: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    """`items` in lists of `size` (the last may be shorter), consuming `items` lazily."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _fail(queued: list[Queued], error: Exception) -> None:
    for _, future in queued:
        if not future.done():
            future.set_exception(error)
