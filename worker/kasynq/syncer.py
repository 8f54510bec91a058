"""Retries outcome writes that failed (Redis unreachable) until their deadline (Go's syncer).

The deadline is set by the processor (lease expiry plus the recoverer grace). A retry the
script refuses (`ScriptError`, e.g. NOT FOUND) is dropped: an earlier attempt whose reply was
lost did the write, or a recoverer took the task.

Go re-arms its 5 s timer on every new request; kasynq retries on a plain 5 s period, which
only changes when a retry happens, not what is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kasynq.errors import ScriptError
from kasynq.redaction import describe

log = logging.getLogger(__name__)

SYNC_INTERVAL_SECONDS = 5.0


@dataclass
class SyncRequest:
    op: str
    write: Callable[[], Awaitable[None]]
    deadline: float
    """Unix seconds after which the write is dropped (before a recoverer may take the task)."""
    task_id: str = ""


class Syncer:
    """Holds failed writes and retries each until it succeeds or its deadline passes."""

    def __init__(self) -> None:
        self._requests: list[SyncRequest] = []
        self._syncing: list[SyncRequest] = []

    def add(
        self, op: str, write: Callable[[], Awaitable[None]], deadline: float, task_id: str = ""
    ) -> None:
        self._requests.append(SyncRequest(op, write, deadline, task_id))

    def task_ids(self) -> set[str]:
        """The tasks whose outcome write is still to be done: active in Redis, and ours."""
        return {request.task_id for request in (*self._requests, *self._syncing)}

    def __len__(self) -> int:
        return len(self._requests)

    async def sync(self) -> None:
        """Try every queued request once; keep those that failed and are still in time."""
        requests, self._requests = self._requests, []
        self._syncing = requests
        try:
            for request in requests:
                await self._sync_one(request)
        finally:
            self._syncing = []

    async def _sync_one(self, request: SyncRequest) -> None:
        if time.time() > request.deadline:
            log.warning("dropping outcome write past its lease op=%s", request.op)
            return
        try:
            await request.write()
        except ScriptError as exc:  # it ran: the task is no longer active, nothing to redo
            log.info("outcome write not needed op=%s error=%s", request.op, describe(exc))
        except Exception as exc:  # retried on the next period
            log.warning("outcome write retry failed op=%s error=%s", request.op, describe(exc))
            self._requests.append(request)
