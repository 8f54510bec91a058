"""Wakes idle fetchers the moment pending work may exist, via Redis client-side-caching messages.

`CLIENT TRACKING ON BCAST PREFIX asynq:{q}:pending PREFIX asynq:{q}:paused` makes Redis (>= 6)
send an invalidation message whenever such a key changes (enqueue, forward, requeue, unpause),
batched per Redis event-loop turn, without any server configuration. The tracking connection
redirects the messages to itself and subscribes to `__redis__:invalidate` (RESP2), so one
dedicated connection suffices. On Redis Cluster a key's messages come from the node owning its
slot: one such connection per node owning a watched queue's `{q}` slot, all set up again
(with the slot map redis-py keeps current) when any of them breaks. This only shortens idle
waits: the processor still polls every `task_check_interval`, so nothing depends on a message
arriving (Sentinel clients get polling only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.sentinel import SentinelConnectionPool

from kasynq import keys
from kasynq.connection import AsyncRedis
from kasynq.periodic import Background
from kasynq.redaction import describe

log = logging.getLogger(__name__)

INVALIDATE_CHANNEL = "__redis__:invalidate"
RECONNECT_DELAY_SECONDS = 1.0


class PendingWatcher(Background):
    """Sets `event` whenever a watched queue's pending list or paused flag changes."""

    name = "wakeup"

    def __init__(self, client: AsyncRedis, queues: Sequence[str], event: asyncio.Event) -> None:
        self._client = client
        self._queues = list(queues)
        self._event = event

    def start(self) -> None:
        if isinstance(self._client, redis.asyncio.Redis) and isinstance(
            self._client.connection_pool, SentinelConnectionPool
        ):
            log.info("pending watcher disabled for Sentinel clients, polling only")
            return
        super().start()

    async def _run(self) -> None:
        while True:
            try:
                await self._watch_all()
            except Exception as exc:  # polling covers the gap; reconnect
                log.debug("pending watcher reconnecting error=%s", describe(exc))
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _watch_all(self) -> None:
        """One tracking session per node owning watched queues, until one of them breaks."""
        client = self._client
        if isinstance(client, redis.asyncio.Redis):
            pool = client.connection_pool
            await self._watch(pool.connection_class, pool.connection_kwargs, self._queues)
            return
        await client.initialize()  # the slot map: which node owns each queue's keys
        nodes: dict[str, tuple[ClusterNode, list[str]]] = {}
        for queue in self._queues:
            node = client.get_node_from_key(keys.pending_key(queue))
            if node is None:
                raise RuntimeError(f"no Cluster node owns the keys of queue={queue}")
            nodes.setdefault(node.name, (node, []))[1].append(queue)
        sessions = [
            asyncio.ensure_future(
                self._watch(node.connection_class, node.connection_kwargs, queues)
            )
            for node, queues in nodes.values()
        ]
        try:
            done, _ = await asyncio.wait(sessions, return_when=asyncio.FIRST_COMPLETED)
            for session in done:
                session.result()  # raises what broke it
        finally:
            for session in sessions:
                session.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

    async def _watch(
        self, connection_class: type, connection_kwargs: dict[str, Any], queues: Sequence[str]
    ) -> None:
        """One tracking session on a dedicated RESP2 connection, until it breaks."""
        kwargs = {
            key: value
            for key, value in connection_kwargs.items()
            if not key.startswith("maint_notifications")
        }
        kwargs["protocol"] = 2
        prefixes: list[str] = []
        for queue in queues:
            prefixes += ["PREFIX", keys.pending_key(queue), "PREFIX", keys.paused_key(queue)]
        watcher = redis.asyncio.Redis(
            connection_pool=redis.asyncio.ConnectionPool(
                connection_class=connection_class, max_connections=1, **kwargs
            )
        )
        pubsub = watcher.pubsub()
        try:
            await pubsub.execute_command("CLIENT", "ID")
            client_id = await pubsub.parse_response(block=True)
            await pubsub.execute_command(
                "CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes
            )
            await pubsub.parse_response(block=True)
            await pubsub.subscribe(INVALIDATE_CHANNEL)
            self._event.set()
            confirmations = 0
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self._event.set()
                elif message["type"] == "subscribe":
                    confirmations += 1
                    if confirmations > 1:
                        return  # redis-py reconnected: tracking is gone, set it up again
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await watcher.aclose()
