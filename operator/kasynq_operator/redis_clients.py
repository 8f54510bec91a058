"""Redis clients per (namespace, Secret), built from the Secret's URL, password and CA."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kasynq.connection import AsyncRedis, redis_from_url
from kasynq.redaction import describe

from kasynq_operator.kube import KubeApi
from kasynq_operator.problems import InvalidRedisURL
from kasynq_operator.resources import SecretRef

logger = logging.getLogger(__name__)

SECRET_REFRESH_SECONDS = 60.0
REDIS_TIMEOUT_SECONDS = 2.0


@dataclass
class _Entry:
    client: AsyncRedis
    secret_data: dict[str, bytes]
    read_at: float


class RedisClients:
    """Caches one client per Secret; re-reads the Secret every minute or after an error."""

    def __init__(self, kube: KubeApi, clock: Callable[[], float] = time.monotonic) -> None:
        self._kube = kube
        self._clock = clock
        self._entries: dict[tuple[str, SecretRef], _Entry] = {}

    async def get(self, namespace: str, secret: SecretRef) -> AsyncRedis:
        """The client for `secret`; raises KeyError naming a missing key of the Secret."""
        key = (namespace, secret)
        entry = self._entries.get(key)
        if entry is not None and self._clock() - entry.read_at < SECRET_REFRESH_SECONDS:
            return entry.client
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
        except ValueError as exc:  # redis-py names the schemes; the URL is not repeated
            raise InvalidRedisURL(
                "not a Redis URL (want redis://, rediss://, unix:// or redis-sentinel://)"
            ) from exc

    async def forget(self, namespace: str, secret: SecretRef) -> None:
        """Drop a client after a Redis error, so the next poll reconnects with a fresh Secret."""
        entry = self._entries.pop((namespace, secret), None)
        if entry is not None:
            await self._close(entry)

    async def _close(self, entry: _Entry) -> None:
        try:
            await entry.client.aclose()
        except Exception as exc:  # closing a broken connection must not fail the poll
            logger.debug("closing redis client failed error=%s", describe(exc))

    async def close(self) -> None:
        for entry in self._entries.values():
            await self._close(entry)
        self._entries.clear()
