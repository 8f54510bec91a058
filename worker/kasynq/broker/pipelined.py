"""A lean pipelined Redis connection for the server's hot path (dequeues and outcome writes).

redis-py's asyncio connection is used one request at a time: a batch can only go out once
the previous batch's replies are in, so the worker and Redis take turns instead of working at
once, and each reply read pays a Python-level timer. This connection writes every batch the
moment it is formed, while earlier replies are still on their way; Redis answers one
connection in order, so execution order is submission order. Replies are parsed by hiredis in
the protocol callback and resolve the callers' futures directly.

It speaks RESP2 and sets the session up as redis-py would from the same pool settings (AUTH,
SELECT, CLIENT SETNAME; TCP, TLS or a Unix socket). Pools it cannot mirror (Sentinel, a
credential provider) get `None` from `settings_from_pool`, and callers keep redis-py. A reply
overdue by the socket timeout closes the connection and fails every waiting call.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis.asyncio
from redis._parsers import BaseParser  # redis-py's error-reply mapping (NoScriptError, ...)
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

Command = tuple[Any, ...]


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to connect, read from a redis-py pool's connection settings."""

    host: str = ""
    port: int = 6379
    path: str = ""
    ssl_context: ssl.SSLContext | None = None
    username: str | None = None
    password: str | None = None
    db: int = 0
    client_name: str | None = None
    connect_timeout: float | None = None
    reply_timeout: float | None = None

    def handshake(self) -> list[Command]:
        """The commands that set a fresh session up like a redis-py connection of the pool."""
        commands: list[Command] = []
        if self.password:
            credentials = (self.username, self.password) if self.username else (self.password,)
            commands.append(("AUTH", *credentials))
        if self.db:
            commands.append(("SELECT", self.db))
        if self.client_name:
            commands.append(("CLIENT", "SETNAME", self.client_name))
        return commands


def settings_from_pool(pool: redis.asyncio.ConnectionPool) -> ConnectionSettings | None:
    """The pool's settings, or None when this connection cannot reproduce them."""
    if isinstance(pool, SentinelConnectionPool):
        return None
    connection: Any = pool.make_connection()  # type: ignore[no-untyped-call]
    if connection.credential_provider is not None:
        return None
    common = {
        "username": connection.username,
        "password": connection.password,
        "db": int(connection.db or 0),
        "client_name": connection.client_name,
        "connect_timeout": connection.socket_connect_timeout,
        "reply_timeout": connection.socket_timeout,
    }
    if isinstance(connection, redis.asyncio.UnixDomainSocketConnection):
        return ConnectionSettings(path=connection.path, **common)
    if isinstance(connection, redis.asyncio.SSLConnection):
        context = connection.ssl_context.get()
        return ConnectionSettings(
            host=connection.host, port=int(connection.port), ssl_context=context, **common
        )
    if type(connection) is redis.asyncio.Connection:
        return ConnectionSettings(host=connection.host, port=int(connection.port), **common)
    return None


class _Batch:
    """Collects the replies of one `send_batch` in order, error replies in place.

    Queued among the connection's waiting futures, once per command, and answering the same
    calls (`done`, `set_result`, `set_exception`): a failed connection fills the missing
    replies with its error. One future per batch instead of one per command.
    """

    __slots__ = ("_expected", "_replies", "future")

    def __init__(self, future: asyncio.Future[list[Any]], expected: int) -> None:
        self.future = future
        self._expected = expected
        self._replies: list[Any] = []

    def done(self) -> bool:
        return self.future.done()

    def set_result(self, reply: Any) -> None:
        self._replies.append(reply)
        if len(self._replies) == self._expected:
            self.future.set_result(self._replies)

    set_exception = set_result


Waiter = asyncio.Future[Any] | _Batch


class PipelinedConnection(asyncio.Protocol):
    """One Redis connection; `send` writes at once and returns without waiting for replies."""

    def __init__(self, reply_timeout: float | None) -> None:
        self._reply_timeout = reply_timeout
        self._reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        self._waiting: collections.deque[Waiter] = collections.deque()
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        self._last_progress = 0.0
        self._watchdog: asyncio.TimerHandle | None = None

    @classmethod
    async def open(cls, settings: ConnectionSettings) -> PipelinedConnection:
        """Connect and set the session up; raises what Redis or the network raised."""
        loop = asyncio.get_running_loop()

        def protocol() -> PipelinedConnection:
            return cls(settings.reply_timeout)

        address = settings.path or f"{settings.host}:{settings.port}"
        try:
            async with asyncio.timeout(settings.connect_timeout):
                if settings.path:
                    _, connection = await loop.create_unix_connection(protocol, settings.path)
                else:
                    _, connection = await loop.create_connection(
                        protocol, settings.host, settings.port, ssl=settings.ssl_context
                    )
        except TimeoutError:  # the errors redis-py raises for the same failures
            raise RedisTimeoutError(f"Timeout connecting to {address}") from None
        except OSError as exc:
            raise RedisConnectionError(f"Error connecting to {address}: {exc}") from exc
        try:
            async with asyncio.timeout(settings.connect_timeout):
                for reply in await connection.send_batch(settings.handshake()):
                    if isinstance(reply, Exception):
                        raise reply
        except BaseException as exc:
            connection.close()
            if isinstance(exc, TimeoutError):
                raise RedisTimeoutError(f"Timeout setting up the session on {address}") from None
            raise
        return connection

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def idle(self) -> bool:
        """No reply outstanding: a call sent now is not held up behind others."""
        return not self._waiting

    def send(
        self, commands: Sequence[Command], futures: Sequence[asyncio.Future[Any]] | None = None
    ) -> Sequence[asyncio.Future[Any]]:
        """Write `commands` now; each future gets its reply (an error reply as an exception)."""
        if futures is None:
            futures = [self._loop.create_future() for _ in commands]
        self._write(commands, futures)
        return futures

    def send_batch(self, commands: Sequence[Command]) -> asyncio.Future[list[Any]]:
        """Write `commands` now; the future gets every reply in order, errors as values."""
        batch = _Batch(self._loop.create_future(), len(commands))
        if commands:
            self._write(commands, [batch] * len(commands))
        else:
            batch.future.set_result([])
        return batch.future

    def _write(self, commands: Sequence[Command], waiters: Sequence[Waiter]) -> None:
        if not self.is_open:
            error = RedisConnectionError("pipelined connection to Redis is closed")
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(error)
            return
        assert self._transport is not None
        if not self._waiting:
            self._last_progress = self._loop.time()
        self._waiting.extend(waiters)
        self._transport.write(b"".join(map(hiredis.pack_command, commands)))
        if self._watchdog is None and self._reply_timeout is not None:
            self._watchdog = self._loop.call_later(self._reply_timeout, self._check_overdue)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        self._last_progress = self._loop.time()
        while (reply := self._reader.gets()) is not False:
            waiter = self._waiting.popleft()
            if waiter.done():  # its caller gave up (cancelled)
                continue
            if isinstance(reply, Exception):
                waiter.set_exception(reply)
            else:
                waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_waiting(RedisConnectionError(f"connection to Redis lost: {exc}"))

    # -- internals ---------------------------------------------------------------------------

    def _fail_waiting(self, error: Exception) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def _check_overdue(self) -> None:
        self._watchdog = None
        if not self._waiting or self._reply_timeout is None:
            return
        overdue_at = self._last_progress + self._reply_timeout
        if self._loop.time() >= overdue_at:
            log.warning("redis reply overdue, closing connection timeout=%ss", self._reply_timeout)
            self._fail_waiting(RedisTimeoutError(f"no reply from Redis in {self._reply_timeout}s"))
            if self._transport is not None:
                self._transport.abort()
            return
        self._watchdog = self._loop.call_at(overdue_at, self._check_overdue)
