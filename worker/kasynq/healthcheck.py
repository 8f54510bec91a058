"""Calls the user's health-check function with the result of a PING (wire-protocol.md §8.12)."""

from __future__ import annotations

import inspect
from collections.abc import Callable

from kasynq.broker import Broker
from kasynq.periodic import Periodic

DEFAULT_INTERVAL_SECONDS = 15.0

HealthCheckFunc = Callable[[Exception | None], object]
"""Receives None when Redis answered, else the error; may be sync or async."""


def healthchecker(broker: Broker, check: HealthCheckFunc, interval: float) -> Periodic:
    """Go's healthchecker: first run after one interval; writes nothing to Redis."""

    async def probe() -> None:
        error: Exception | None = None
        try:
            await broker.ping()
        except Exception as exc:  # reported to the user's function
            error = exc
        result = check(error)
        if inspect.isawaitable(result):
            await result

    return Periodic("healthchecker", probe, interval)
