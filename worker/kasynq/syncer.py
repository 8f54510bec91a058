"""Retries outcome writes that failed (Redis unreachable) until their lease deadline (spec 5.10).

Go re-arms its 5 s timer on every new request; kasynq retries on a plain 5 s period, which
only changes when a retry happens, not what is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kasynq.redaction import describe

log = logging.getLogger(__name__)

SYNC_INTERVAL_SECONDS = 5.0


@dataclass
class SyncRequest:
    op: str
    write: Callable[[], Awaitable[None]]
    deadline: float
    """Unix seconds after which the write is dropped (the task's lease expiry)."""


class Syncer:
    """Holds failed writes and retries each until it succeeds or its deadline passes."""

    def __init__(self) -> None:
        self._requests: list[SyncRequest] = []

    def add(self, op: str, write: Callable[[], Awaitable[None]], deadline: float) -> None:
        self._requests.append(SyncRequest(op, write, deadline))

    def __len__(self) -> int:
        return len(self._requests)

    async def sync(self) -> None:
        """Try every queued request once; keep those that failed and are still in time."""
        requests, self._requests = self._requests, []
        for request in requests:
            if time.time() > request.deadline:
                log.warning("dropping outcome write past its lease op=%s", request.op)
                continue
            try:
                await request.write()
            except Exception as exc:  # retried on the next period
                log.warning("outcome write retry failed op=%s error=%s", request.op, describe(exc))
                self._requests.append(request)
