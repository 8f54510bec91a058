"""Rate limits per ServeMux registration, across every kasynq server (wire-protocol.md §16).

`ServeMux.handle(pattern, handler, rate="100/s")` attaches a `Rate`; before such a handler
runs, the processor asks `RateLimiter.admit` for a start slot. A slot at most
`RATE_HOLD_SECONDS` away is waited for in the task's own slot; a later one makes the task
`RateLimited`, and the processor moves it back to `scheduled` (not failed, not a retry).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

from kasynq.broker import ratelimit as rate_broker
from kasynq.broker.core import Broker

RATE_HOLD_SECONDS = 1.0
"""Longest wait for a start slot inside the task's concurrency slot; later ones delay it."""
_PERIODS = {"s": 1, "m": 60, "h": 3600}
_RATE = re.compile(r"([1-9][0-9]*)/([smh])")
US_PER_SECOND = 1_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` starts per `period` seconds, evenly spaced."""

    count: int
    period: int

    @property
    def interval_us(self) -> int:
        """Time between two starts, in µs (at least 1)."""
        return max(1, self.period * US_PER_SECOND // self.count)


def parse_rate(text: object) -> Rate:
    """`N/s`, `N/m` or `N/h` (N a positive integer) as a `Rate`; else `ValueError` naming it."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"rate must be N/s, N/m or N/h with N a positive integer: rate={text!r}")
    return Rate(int(match.group(1)), _PERIODS[match.group(2)])


class RateLimited(Exception):  # an outcome, like ShutdownAbort, not an error raised to users
    """No start slot within the hold: the task goes back to `scheduled` for `delay` s."""

    def __init__(self, scope: str, delay: float) -> None:
        super().__init__(f"rate limited: scope={scope} delay={delay:.3f}s")
        self.delay = delay


RateLookup = Callable[[str], tuple[str, Rate] | None]
"""Task type → (scope, rate) of its registration, or None when it is not limited."""


class RateLimiter:
    """Takes start slots for limited task types (the processor's hook)."""

    def __init__(self, broker: Broker, lookup: RateLookup) -> None:
        self._broker = broker
        self._lookup = lookup

    async def admit(self, task_type: str) -> RateLimited | None:
        """Wait for a start slot of `task_type` (None), or the `RateLimited` outcome."""
        limited = self._lookup(task_type)
        if limited is None:
            return None
        scope, rate = limited
        hold_us = int(RATE_HOLD_SECONDS * US_PER_SECOND)
        granted, wait_us = await rate_broker.take(self._broker, scope, rate.interval_us, hold_us)
        if not granted:
            return RateLimited(scope, wait_us / US_PER_SECOND)
        if wait_us > 0:
            await asyncio.sleep(wait_us / US_PER_SECOND)
        return None
