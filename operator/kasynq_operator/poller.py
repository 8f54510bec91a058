"""One task that polls every AsynqWorkerPool and AsynqQueue, in place of a kopf daemon each.

A kopf daemon per pool and per queue cost, at 1,000 pools, 2,000 asyncio tasks, each with
kopf's live copy of its object's full body, a stopper and a logger (docs/operator.md, "One
poller"). Here kopf's event handlers hand over the few fields a poll needs (`essentials`);
one loop runs each target's step when its interval is up, at most `POLL_CONCURRENCY` steps
at a time, and forgets a target when its object is deleted. A spec change (a new
generation) polls the target at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kasynq_operator import metrics as operator_metrics

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
"""Pause after an unexpected error in a step before the target's next one."""
POLL_CONCURRENCY = 100
"""Steps running at once. Steps mostly wait for a Redis batch (`RedisClients.sample`) and
Kubernetes calls in threads; 1,000 pools at 2 s and 1,000 queues at 3 s need about 50 at
once. The bound keeps a start-up (every target due at once) from building 2,000 steps'
state together, which would stay in the process's resident memory afterwards."""
STOP_SECONDS = 10.0
"""How long `stop` lets running steps finish before cancelling them."""

Key = tuple[str, str, str]
"""(kind, namespace, name) of a polled object."""


class Target(Protocol):
    """What the poller drives for one object; `body` is its latest `essentials`."""

    def interval(self, body: Mapping[str, Any]) -> float:
        """Seconds from the start of one step to the start of the next (at once after a
        step that took longer)."""

    async def step(self, body: Mapping[str, Any]) -> None:
        """One poll of the object."""

    def forget(self) -> None:
        """The object is gone: drop what was published about it (metrics)."""


def essentials(body: Mapping[str, Any], status_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """What a step reads of a custom resource: identity (owner references and Events need
    it), generation, spec and the given status fields, not kopf's full body (managedFields,
    annotations, the whole status)."""
    metadata = body["metadata"]
    status = body.get("status") or {}
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {key: metadata.get(key) for key in ("name", "namespace", "uid", "generation")},
        "spec": dict(body.get("spec") or {}),
        "status": {key: status[key] for key in status_keys if key in status},
    }


@dataclass(eq=False)
class _Entry:
    target: Target
    body: Mapping[str, Any]
    seq: int = 0
    """Sequence number of the entry's current place in the schedule; older places are stale."""
    running: bool = False
    again: bool = field(default=False)
    """Woken while its step ran: step again as soon as it ends."""


class Poller:
    """Steps every target at its interval from one loop (`run`) until `stop`."""

    def __init__(self, concurrency: int = POLL_CONCURRENCY) -> None:
        self._entries: dict[Key, _Entry] = {}
        self._schedule: list[tuple[float, int, Key, _Entry]] = []
        self._order = itertools.count()
        self._slots = asyncio.Semaphore(concurrency)
        self._wakeup = asyncio.Event()
        self._steps: set[asyncio.Task[None]] = set()
        self._stopping = False

    def __len__(self) -> int:
        return len(self._entries)

    def target(self, key: Key) -> Target | None:
        entry = self._entries.get(key)
        return None if entry is None else entry.target

    def update(self, key: Key, body: Mapping[str, Any], make: Callable[[], Target]) -> None:
        """The object's latest `essentials`: a new object (or a new uid under the same name)
        gets a new target from `make`, polled at once; a new generation is polled at once."""
        entry = self._entries.get(key)
        uid = body["metadata"]["uid"]
        if entry is None or entry.body["metadata"]["uid"] != uid:
            self.drop(key)
            self._entries[key] = entry = _Entry(make(), body)
            self._due(key, entry, time.monotonic())
            return
        changed = entry.body["metadata"].get("generation") != body["metadata"].get("generation")
        entry.body = body
        if changed:
            self.wake(key)

    def wake(self, key: Key) -> None:
        """Poll the object now (after its running step, if one runs)."""
        entry = self._entries.get(key)
        if entry is None:
            return
        if entry.running:
            entry.again = True
        else:
            self._due(key, entry, time.monotonic())

    def drop(self, key: Key) -> None:
        """The object is gone: no more steps, and its target forgets it (again after a step
        still running, which may publish once more)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            entry.target.forget()

    def _due(self, key: Key, entry: _Entry, when: float) -> None:
        entry.seq = next(self._order)
        heapq.heappush(self._schedule, (when, entry.seq, key, entry))
        self._wakeup.set()

    async def run(self) -> None:
        """Start each target's step when it is due, until `stop`."""
        while not self._stopping:
            self._wakeup.clear()
            while self._schedule and self._schedule[0][0] <= time.monotonic():
                _, seq, key, entry = heapq.heappop(self._schedule)
                if entry.seq != seq or self._entries.get(key) is not entry:
                    continue  # rescheduled since, or dropped
                await self._slots.acquire()
                if self._stopping:
                    self._slots.release()
                    return
                if self._entries.get(key) is not entry:  # dropped while waiting for a slot
                    self._slots.release()
                    continue
                entry.running = True
                task = asyncio.create_task(self._step(key, entry), name=f"poll {key}")
                self._steps.add(task)
                task.add_done_callback(self._steps.discard)
            delay = self._schedule[0][0] - time.monotonic() if self._schedule else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()

    async def _step(self, key: Key, entry: _Entry) -> None:
        """One step of one target; an error is logged and counted, and the next try waits
        at least RETRY_SECONDS: one failing object never stops the others."""
        kind, namespace, name = key
        started = time.monotonic()
        seconds = RETRY_SECONDS
        try:
            seconds = entry.target.interval(entry.body)
            await entry.target.step(entry.body)
        except Exception:
            logger.exception("%s step failed namespace=%s name=%s", kind, namespace, name)
            operator_metrics.RECONCILE_ERRORS.labels(kind, "step").inc()
            seconds = max(seconds, RETRY_SECONDS)
        finally:
            self._slots.release()
            entry.running = False
        if self._entries.get(key) is not entry:
            entry.target.forget()  # dropped while it ran
        elif entry.again:
            entry.again = False
            self._due(key, entry, time.monotonic())
        else:
            self._due(key, entry, started + max(seconds, time.monotonic() - started))

    async def stop(self) -> None:
        """No new steps; running ones get STOP_SECONDS to finish, then are cancelled."""
        self._stopping = True
        self._wakeup.set()
        running = list(self._steps)
        if running:
            _, late = await asyncio.wait(running, timeout=STOP_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
