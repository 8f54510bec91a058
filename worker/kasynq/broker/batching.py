"""A Redis client view that pipelines concurrent script calls into one round trip.

The processor issues many independent `EVALSHA`s at once (one dequeue per free slot, one
outcome write per finished task). `BatchingClient.evalsha` / `.eval` queue each call and await
its own result; all calls queued while the event loop runs other work, or while the previous
batch is in flight, go out together as one non-transactional pipeline. Every call is still
one atomic script with Go's KEYS and ARGV, so Redis sees exactly the state transitions of
Go's server, just fewer network round trips. Errors (including NOSCRIPT, which `LuaScript.run`
answers with an `EVAL`) are raised to the caller that issued the call. Every other command is
forwarded to the wrapped client unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kasynq.connection import AsyncRedis

MAX_BATCH = 512
"""Upper bound of commands per pipeline, to keep single replies and latency small."""


class BatchingClient:
    """Wraps an asyncio Redis client; use it where `Broker` expects a client."""

    def __init__(self, client: AsyncRedis) -> None:
        self.client = client
        self._queued: list[tuple[str, tuple[Any, ...], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> asyncio.Future[Any]:
        return self._queue("evalsha", (sha, numkeys, *keys_and_args))

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> asyncio.Future[Any]:
        return self._queue("eval", (script, numkeys, *keys_and_args))

    def _queue(self, method: str, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((method, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        return future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let every caller of this loop turn queue its call first
        while self._queued:
            batch, self._queued = self._queued[:MAX_BATCH], self._queued[MAX_BATCH:]
            try:
                if len(batch) == 1:
                    method, args, _ = batch[0]
                    results: list[Any] = [await getattr(self.client, method)(*args)]
                else:
                    pipe = self.client.pipeline(transaction=False)
                    for method, args, _ in batch:
                        # execute_command: redis-py's Cluster pipeline blocks `evalsha`/`eval`
                        # although it routes the command by its first key (single-slot scripts).
                        pipe.execute_command(method.upper(), *args)
                    results = list(await pipe.execute(raise_on_error=False))
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
