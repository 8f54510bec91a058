"""Running asyncio code from a blocking API (`Inspector`).

Each blocking facade owns one `LoopThread`: an event loop on a daemon thread where its async
twin and the twin's Redis connections live. Calls hop onto that loop and wait for the result,
so blocking callers (Django views, Flask handlers, scripts) need no event loop of their own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An event loop running on its own daemon thread until `close()`."""

    def __init__(self, name: str = "kasynq-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._loop.is_closed()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run `coroutine` on the loop thread and return its result (or raise its error)."""
        if self.closed:
            coroutine.close()
            raise RuntimeError("this blocking client is closed")
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError("blocking kasynq API called from its own event loop thread")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def close(self) -> None:
        """Stop the loop and join its thread; idempotent."""
        if self.closed:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
