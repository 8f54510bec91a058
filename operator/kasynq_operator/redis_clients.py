"""Redis clients per (namespace, Secret), built from the Secret's URL, password and CA, and the
queue sampling of every pool and queue on them, batched.

Each pool polls every 2 s and each queue every 3 s. At 1,000 pools, one pipeline per poll
needed more than redis-py's 100 pooled connections: `MaxConnectionsError`, and every error
closed the shared client under the others' feet (decision p95 15-22 s). `sample` gathers the
queues asked for within `SAMPLE_GATHER_SECONDS` on one client into one `sample_queues`
pipeline (docs/operator.md, "The autoscaling decision").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kasynq.broker.metrics import PoolMetrics, sample_queues
from kasynq.connection import AsyncRedis, redis_from_url
from kasynq.redaction import describe, redacted

from kasynq_operator.kube import KubeApi
from kasynq_operator.problems import InvalidRedisURL
from kasynq_operator.resources import SecretRef

logger = logging.getLogger(__name__)

SECRET_REFRESH_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 2.0
SAMPLE_GATHER_SECONDS = 0.05
"""How long the first sample request of a batch waits for others on the same client: polls
are spread over the poll interval, so 1,000 pools at 2 s send about 25 queues a batch."""


@dataclass
class _Entry:
    client: AsyncRedis
    secret_data: dict[str, bytes]
    read_at: float


@dataclass
class _Batch:
    """Queues to sample on one client with one lookahead, and the sample's future."""

    client: AsyncRedis
    lookahead: float
    queues: set[str]
    result: asyncio.Future[PoolMetrics]


class RedisClients:
    """Caches one client per Secret; re-reads the Secret every minute or after an error."""

    def __init__(self, kube: KubeApi, clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._clock = clock
        self._entries: dict[tuple[str, SecretRef], _Entry] = {}
        self._reading: dict[tuple[str, SecretRef], asyncio.Lock] = {}
        self._batches: dict[tuple[int, float], _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def get(self, namespace: str, secret: SecretRef) -> AsyncRedis:
        """The client for `secret`; raises KeyError naming a missing key of the Secret.

        One reader per Secret at a time: at start-up every pool and queue asks at once, and
        each made its own client, overwriting the others' unclosed (1,000 clients at 1,000
        pools)."""
        key = (namespace, secret)
        client = self._fresh(key)
        if client is not None:
            return client
        async with self._reading.setdefault(key, asyncio.Lock()):
            client = self._fresh(key)  # read meanwhile by the caller this one waited for
            return client if client is not None else await self._read(key)

    def _fresh(self, key: tuple[str, SecretRef]) -> AsyncRedis | None:
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.read_at < SECRET_REFRESH_SECONDS:
            return entry.client
        return None

    async def _read(self, key: tuple[str, SecretRef]) -> AsyncRedis:
        """(Re-)read the Secret; a new client only when its data changed."""
        namespace, secret = key
        entry = self._entries.get(key)
        data = await asyncio.to_thread(self._kube.read_secret, namespace, secret.name)
        if entry is not None and entry.secret_data == data:
            entry.read_at = self._clock()
            return entry.client
        client = self._connect(namespace, secret, data)
        if entry is not None:
            await self._close(entry)
        self._entries[key] = _Entry(client, data, self._clock())
        return client

    @staticmethod
    def _connect(namespace: str, secret: SecretRef, data: dict[str, bytes]) -> AsyncRedis:
        def value(name: str | None) -> str | None:
            if name is None:
                return None
            if name not in data:
                raise KeyError(f"Secret {namespace}/{secret.name} has no key {name!r}")
            return data[name].decode()

        url = value(secret.url_key)
        assert url is not None
        options: dict[str, Any] = {
            "socket_timeout": REDIS_TIMEOUT_SECONDS,
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
        }
        ca = value(secret.ca_key)
        if ca is not None:
            options["ssl_ca_data"] = ca
        try:
            return redis_from_url(url, password=value(secret.password_key), **options)
        except ValueError as exc:  # the reason, with any URL in it masked
            raise InvalidRedisURL(
                "not a Redis URL kasynq can use (redis://, rediss://, unix:// or "
                f"redis-sentinel://...?master=<name>): {redacted(str(exc))}"
            ) from exc

    async def sample(
        self, namespace: str, secret: SecretRef, queues: list[str], lookahead: float
    ) -> PoolMetrics:
        """`queues` sampled with the others asked for on the same client meanwhile (one
        pipeline); Redis errors propagate to every asker. Cancelling one asker (its timeout)
        leaves the batch to the others."""
        client = await self.get(namespace, secret)
        key = (id(client), lookahead)
        batch = self._batches.get(key)
        if batch is None:
            loop = asyncio.get_running_loop()
            batch = _Batch(client, lookahead, set(), loop.create_future())
            self._batches[key] = batch
            loop.call_later(SAMPLE_GATHER_SECONDS, self._send, key)
        batch.queues.update(queues)
        sampled = await asyncio.shield(batch.result)
        by_name = {queue.name: queue for queue in sampled.queues}
        return PoolMetrics(sampled.taken_at, tuple(by_name[name] for name in queues))

    def _send(self, key: tuple[int, float]) -> None:
        batch = self._batches.pop(key)
        # retrieved here: every asker may have timed out and left
        batch.result.add_done_callback(lambda done: done.cancelled() or done.exception())
        task = asyncio.ensure_future(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: _Batch) -> None:
        try:
            sampled = await sample_queues(
                batch.client, sorted(batch.queues), batch.lookahead, monotonic=self._clock
            )
        except Exception as exc:  # every asker gets it, the client is dropped once
            batch.result.set_exception(exc)
            await self._drop(batch.client)
        else:
            batch.result.set_result(sampled)

    async def _drop(self, client: AsyncRedis) -> None:
        """Close a client whose batch failed, so the next poll reconnects with a fresh Secret;
        once, however many pools and queues the failed batch served."""
        for key, entry in list(self._entries.items()):
            if entry.client is client:
                del self._entries[key]
                await self._close(entry)

    async def _close(self, entry: _Entry) -> None:
        try:
            await entry.client.aclose()
        except Exception as exc:  # closing a broken connection must not fail the poll
            logger.debug("closing redis client failed error=%s", describe(exc))

    async def close(self) -> None:
        # Pools still sampling may add or drop entries while a close awaits: close a snapshot.
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await self._close(entry)
