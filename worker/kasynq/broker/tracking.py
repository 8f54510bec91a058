"""Reads one task hash and hears when it changes, via `CLIENT TRACKING` (wire-protocol.md §14).

A *reader* connection runs `CLIENT TRACKING ON REDIRECT <listener id>` in default mode, so
Redis remembers every key it reads; the *listener* connection is subscribed to
`__redis__:invalidate` and gets one message when such a key changes afterwards, whoever
changed it (a Go worker, a kasynq worker, an Inspector, an expiry). Both are RESP2 connections
of their own to the node owning the key, made like the pending watcher's (§12.2). Sentinel
clients, whose connections must come from the pool that follows the master, get no listener:
`changed` then just sleeps a short period.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any, cast

import redis
import redis.asyncio
import redis.cluster
import redis.sentinel
from redis.asyncio.client import PubSub as AsyncPubSub
from redis.asyncio.sentinel import SentinelConnectionPool
from redis.client import PubSub

from kasynq.connection import AsyncRedis

INVALIDATE_CHANNEL = "__redis__:invalidate"
TASK_FIELDS = ("state", "msg", "result")
"""The task hash fields a read answers, in this order (wire-protocol.md §2.4)."""
SUBSCRIBE_TIMEOUT_SECONDS = 5.0
"""How long to wait for the listener's subscribe confirmation."""
SENTINEL_RECHECK_SECONDS = 0.1
"""How often a Sentinel-managed waiter reads again (it hears no invalidations)."""


def resp2_kwargs(connection_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Kwargs for a dedicated RESP2, bytes-answering connection like the client's own ones."""
    kwargs = {
        key: value
        for key, value in connection_kwargs.items()
        if not key.startswith("maint_notifications")
    }
    kwargs["protocol"] = 2
    kwargs["decode_responses"] = False
    return kwargs


def _tracking_command(client_id: object) -> tuple[str, ...]:
    return ("CLIENT", "TRACKING", "ON", "REDIRECT", str(client_id))


class AsyncTaskTracker:
    """Tracks one key on an asyncio client; `read` then `changed`, until `close`."""

    def __init__(self, client: AsyncRedis, key: str) -> None:
        self._client = client
        self._key = key
        self._reader: redis.asyncio.Redis | None = None
        self._listener: redis.asyncio.Redis | None = None
        self._pubsub: AsyncPubSub | None = None
        self._polling = isinstance(client, redis.asyncio.Redis) and isinstance(
            client.connection_pool, SentinelConnectionPool
        )

    async def read(self) -> list[bytes | None]:
        """`HMGET key state msg result`, tracked: any later change is heard by `changed`."""
        if self._polling:
            reply = await self._client.hmget(self._key, list(TASK_FIELDS))
            return cast(list[bytes | None], reply)
        try:
            if self._reader is None:
                await self._open()
            assert self._reader is not None
            return cast(list[bytes | None], await self._reader.hmget(self._key, list(TASK_FIELDS)))
        except BaseException:
            await self.close()  # MOVED, a dropped connection: open anew on the next read
            raise

    async def changed(self, within: float) -> None:
        """Return when the key changed since the last `read`, or after `within` seconds."""
        if self._pubsub is None:
            await asyncio.sleep(min(within, SENTINEL_RECHECK_SECONDS) if self._polling else within)
            return
        until = time.monotonic() + within
        while (left := until - time.monotonic()) > 0:
            message = await self._pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "message":
                return

    async def _open(self) -> None:
        client = self._client
        if isinstance(client, redis.asyncio.Redis):
            pool = client.connection_pool
            connection_class, connection_kwargs = pool.connection_class, pool.connection_kwargs
        else:
            await client.initialize()
            node = client.get_node_from_key(self._key)
            if node is None:
                raise RuntimeError(f"no Cluster node owns key={self._key}")
            connection_class, connection_kwargs = node.connection_class, node.connection_kwargs
        kwargs = resp2_kwargs(connection_kwargs)

        def dedicated() -> redis.asyncio.Redis:
            return redis.asyncio.Redis(
                connection_pool=redis.asyncio.ConnectionPool(
                    connection_class=connection_class, max_connections=1, **kwargs
                )
            )

        self._listener = dedicated()
        self._pubsub = self._listener.pubsub()
        await self._pubsub.execute_command("CLIENT", "ID")
        listener_id = await self._pubsub.parse_response(block=True)
        await self._pubsub.subscribe(INVALIDATE_CHANNEL)
        await self._pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_SECONDS)  # the confirmation
        self._reader = dedicated()
        await self._reader.execute_command(*_tracking_command(listener_id))  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Close both connections; idempotent."""
        pubsub, listener, reader = self._pubsub, self._listener, self._reader
        self._pubsub = self._listener = self._reader = None
        for closeable in (pubsub, listener, reader):
            if closeable is not None:
                with contextlib.suppress(Exception):
                    await closeable.aclose()


class BlockingTaskTracker:
    """`AsyncTaskTracker` on a blocking redis-py client, on the caller's thread."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster, key: str) -> None:
        self._client = client
        self._key = key
        self._reader: redis.Redis | None = None
        self._listener: redis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._polling = isinstance(client, redis.Redis) and isinstance(
            client.connection_pool, redis.sentinel.SentinelConnectionPool
        )

    def read(self) -> list[bytes | None]:
        """`HMGET key state msg result`, tracked: any later change is heard by `changed`."""
        if self._polling:
            return cast(list[bytes | None], self._client.hmget(self._key, list(TASK_FIELDS)))
        try:
            if self._reader is None:
                self._open()
            assert self._reader is not None
            return cast(list[bytes | None], self._reader.hmget(self._key, list(TASK_FIELDS)))
        except BaseException:
            self.close()
            raise

    def changed(self, within: float) -> None:
        """Return when the key changed since the last `read`, or after `within` seconds."""
        if self._pubsub is None:
            time.sleep(min(within, SENTINEL_RECHECK_SECONDS) if self._polling else within)
            return
        until = time.monotonic() + within
        while (left := until - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=left)
            if message is not None and message["type"] == "message":
                return

    def _open(self) -> None:
        client = self._client
        if isinstance(client, redis.Redis):
            pool = client.connection_pool
        else:
            node = client.get_node_from_key(self._key)  # type: ignore[no-untyped-call]
            if node is None or node.redis_connection is None:
                raise RuntimeError(f"no Cluster node owns key={self._key}")
            pool = node.redis_connection.connection_pool
        kwargs = resp2_kwargs(pool.connection_kwargs)

        def dedicated() -> redis.Redis:
            return redis.Redis(
                connection_pool=redis.ConnectionPool(
                    connection_class=pool.connection_class, max_connections=1, **kwargs
                )
            )

        self._listener = dedicated()
        self._pubsub = self._listener.pubsub()
        self._pubsub.execute_command("CLIENT", "ID")  # type: ignore[no-untyped-call]
        listener_id = self._pubsub.parse_response(block=True)  # type: ignore[no-untyped-call]
        self._pubsub.subscribe(INVALIDATE_CHANNEL)
        self._pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT_SECONDS)  # the confirmation
        self._reader = dedicated()
        self._reader.execute_command(*_tracking_command(listener_id))  # type: ignore[no-untyped-call]

    def close(self) -> None:
        """Close both connections; idempotent."""
        pubsub, listener, reader = self._pubsub, self._listener, self._reader
        self._pubsub = self._listener = self._reader = None
        for closeable in (pubsub, listener, reader):
            if closeable is not None:
                with contextlib.suppress(Exception):
                    closeable.close()
