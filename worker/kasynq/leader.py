"""Leader election of a scheduler group on a Redis lock, with fencing tokens.

One scheduler per group is leader: it took the lock with SET NX and a TTL (2 s by default)
and renews it every TTL/3 with compare-and-extend; standbys retry every `retry_interval`
(0.5 s by default, so one takes over within TTL + 0.5 s of a leader's death: the lock is all
that tells a standby a leader lives) and a leader releases the lock with compare-and-delete on
shutdown. A short TTL is safe because the fencing token, not the TTL, keeps a deposed leader
from firing. Each acquisition takes a new fencing token; the token is
what the tick script checks, so a leader that lost the lock without noticing (paused,
partitioned) is refused by Redis, not by its own clock. Locally a leader also steps down when
it could not renew within the TTL, or when told it was fenced off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from redis.exceptions import RedisError

from kasynq.broker.scheduling import LeaderLock
from kasynq.redaction import describe

log = logging.getLogger(__name__)

DEFAULT_LOCK_TTL_SECONDS = 2.0
DEFAULT_LOCK_RETRY_SECONDS = 0.5


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` pass.

    Not `wait_for`: on Python 3.11 it can swallow a cancellation that races with the event,
    which would leave a loop running after shutdown.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=max(0.0, seconds))
    finally:
        waiter.cancel()


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"


class LeaderElector:
    """Keeps trying to lead `group`; `on_elected(token)` / `on_deposed(reason)` report changes."""

    def __init__(
        self,
        lock: LeaderLock,
        group: str,
        *,
        ttl: float = DEFAULT_LOCK_TTL_SECONDS,
        retry_interval: float = DEFAULT_LOCK_RETRY_SECONDS,
        on_elected: Callable[[int], Awaitable[None]] | None = None,
        on_deposed: Callable[[str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"lock_ttl must be positive: lock_ttl={ttl!r}")
        if not retry_interval > 0:
            raise ValueError(
                f"lock_retry_interval must be positive: lock_retry_interval={retry_interval!r}"
            )
        self.group = group
        self.ttl = ttl
        self.retry_interval = retry_interval
        self.token = 0
        self._lock = lock
        self._ttl_ms = max(1, int(ttl * 1000))
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._clock = clock
        self._lease_deadline = 0.0
        self._leading = False
        self._wakeup = asyncio.Event()

    @property
    def takeover_seconds(self) -> float:
        """How long after a leader's death a standby leads at the latest (TTL + one retry)."""
        return self.ttl + min(self.ttl / 3, self.retry_interval)

    @property
    def role(self) -> Role:
        return Role.LEADER if self.is_leader else Role.STANDBY

    @property
    def is_leader(self) -> bool:
        """Leading and the lock, as last renewed, has not expired on our clock."""
        return self._leading and self._clock() < self._lease_deadline

    async def run(self) -> None:
        """Campaign and renew until cancelled; never raises on Redis errors."""
        while True:
            started = self._clock()
            try:
                async with asyncio.timeout(self.ttl / 2):  # a hung connection must not hold us
                    if self._leading:
                        await self._renew(started)
                    else:
                        await self._campaign(started)
            except (RedisError, TimeoutError) as exc:
                log.warning(
                    "leader election: redis error group=%s error=%s", self.group, describe(exc)
                )
                if self._leading and not self.is_leader:
                    await self.step_down("lock not renewed within its TTL")
            pause = self.ttl / 3 if self._leading else min(self.ttl / 3, self.retry_interval)
            self._wakeup.clear()
            await wait_event(self._wakeup, pause)

    async def _campaign(self, started: float) -> None:
        token = await self._lock.acquire(self._ttl_ms)
        if not token:
            return
        self.token = token
        self._leading = True
        self._lease_deadline = started + self.ttl
        log.info("scheduler leader elected group=%s token=%d", self.group, token)
        if self._on_elected is not None:
            await self._on_elected(token)

    async def _renew(self, started: float) -> None:
        if await self._lock.renew(self._ttl_ms):
            self._lease_deadline = started + self.ttl
        else:
            await self.step_down("lock lost to another scheduler or expired")

    async def retoken(self, fence: int) -> int:
        """Take a token above `fence` (our counter fell behind it); 0 if the lock is lost."""
        token = await self._lock.retoken(fence)
        if token:
            self.token = token
            log.warning("fencing token moved past a fence group=%s token=%d", self.group, token)
        return token

    async def step_down(self, reason: str) -> None:
        """Stop leading (idempotent); the campaign goes on, as a standby."""
        if not self._leading:
            return
        self._leading = False
        log.warning(
            "scheduler leader stepped down group=%s token=%d reason=%s",
            self.group,
            self.token,
            reason,
        )
        if self._on_deposed is not None:
            await self._on_deposed(reason)
        self._wakeup.set()

    async def release(self) -> None:
        """Give the lock up (graceful shutdown) so a standby takes over without waiting."""
        if not self._leading:
            return
        self._leading = False
        try:
            await self._lock.release()
        except RedisError as exc:
            log.warning("leader lock release failed group=%s error=%s", self.group, describe(exc))
