"""Counting Redis round trips of an asyncio redis-py client, for tests and benchmarks.

A round trip is one write to the socket followed by its replies (a pipeline is one write),
counted through redis-py's private `_send_packed_command` hook.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import redis.asyncio


@dataclass
class WriteCount:
    """Writes so far; set `writes` to 0 to start a measurement."""

    writes: int = 0


def counting_client(url: str) -> tuple[redis.asyncio.Redis, WriteCount]:
    """A client on `url` (it owns its pool: `aclose` closes both) and its write count."""
    count = WriteCount()

    class CountingConnection(redis.asyncio.Connection):
        async def _send_packed_command(self, command: Iterable[bytes]) -> None:
            count.writes += 1
            await super()._send_packed_command(command)

    pool = redis.asyncio.ConnectionPool.from_url(url, connection_class=CountingConnection)
    return redis.asyncio.Redis.from_pool(pool), count
