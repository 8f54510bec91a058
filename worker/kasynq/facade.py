"""Lifecycle shared by the client and inspector facades, async and blocking.

`AsyncFacade` owns a `Broker` (and closes its Redis client when it created it);
`BlockingFacade` runs an async facade on a private `LoopThread` for blocking callers (the
`Inspector`; the blocking `Client` needs no loop, see `broker.blocking`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from kasynq._sync import LoopThread
from kasynq.broker.core import Broker


class AsyncFacade:
    """An asyncio API over one `Broker`; usable as an async context manager."""

    def __init__(self, broker: Broker, *, owns_client: bool) -> None:
        self._broker = broker
        self._owns_client = owns_client

    async def close(self) -> None:
        """Close the Redis client if this object created it."""
        if self._owns_client:
            await self._broker.close()

    async def ping(self) -> bool:
        """True when Redis answers PING."""
        return await self._broker.ping()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncCloseable(Protocol):
    """An async object with connections to close (`AsyncClient`, `AsyncInspector`)."""

    async def close(self) -> None: ...


A = TypeVar("A", bound=AsyncCloseable)


class BlockingCloseable:
    """A blocking object with connections to close: `with` closes it (`Client`, `Inspector`)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class BlockingFacade(BlockingCloseable, Generic[A]):
    """The blocking face of an async object that lives on its own `LoopThread`.

    Gives the `Inspector` its lifecycle: `close()` (idempotent) closes the twin's
    connections on its loop, then stops the thread; usable as a context manager.
    """

    def __init__(self, thread_name: str, twin: A) -> None:
        self._loop = LoopThread(thread_name)
        self._async = twin

    def close(self) -> None:
        """Close the connections and stop the loop thread; idempotent."""
        if not self._loop.closed:
            self._loop.run(self._async.close())
            self._loop.close()
