"""Lua scripts of the broker: read from `broker/lua/` once, run by SHA with an EVAL fallback.

Mirrors go-redis `Script.Run`: `EVALSHA` first; when Redis answers `NOSCRIPT` (script cache
flushed or a fresh node) the same call is sent as `EVAL`, which also re-caches the script.
Works unchanged on Redis Cluster clients, which route `EVALSHA`/`EVAL` by the first key; every
script's keys share one hash slot.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeAlias, TypeVar

import redis
import redis.cluster
from redis.exceptions import NoScriptError

from kasynq.broker.batching import BatchingClient
from kasynq.connection import AsyncRedis
from kasynq.frozen import quick_init

T = TypeVar("T")

ScriptArg: TypeAlias = bytes | str | int
"""What scripts accept: bytes, text and ints only (no floats, no bools; wire-protocol.md §1.2)."""


@quick_init
@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One script invocation, for pipelining many of them."""

    script: LuaScript
    keys: Sequence[str]
    args: Sequence[ScriptArg]


@dataclass(frozen=True)
class LuaScript:
    """One `.lua` file of `broker/lua/` with its SHA1."""

    name: str
    source: str
    sha: str

    async def run(self, client: AsyncRedis, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run by SHA; on NOSCRIPT send the source once. Error replies raise `ResponseError`."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)

    def run_blocking(
        self,
        client: redis.Redis | redis.cluster.RedisCluster,
        call_keys: Sequence[str],
        args: Sequence[ScriptArg],
    ) -> Any:
        """`run` on a blocking redis-py client (the blocking `Client`: no event loop)."""
        try:
            return client.evalsha(self.sha, len(call_keys), *call_keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(call_keys), *call_keys, *args)

    def call(self, keys: Sequence[str], args: Sequence[ScriptArg]) -> ScriptCall:
        return ScriptCall(self, keys, args)


INCLUDE_PREFIX = "-- #include "
"""A script line `-- #include <lib>` is replaced by `broker/lua/lib/<lib>.lua` (shared helpers)."""


def _read_lua(*parts: str) -> str:
    return resources.files("kasynq.broker").joinpath("lua", *parts).read_text("utf-8")


@functools.cache
def load_script(name: str) -> LuaScript:
    """The script `broker/lua/<name>.lua` with its includes, read and hashed once per process."""
    lines = [
        _read_lua("lib", f"{line.removeprefix(INCLUDE_PREFIX).strip()}.lua")
        if line.startswith(INCLUDE_PREFIX)
        else line
        for line in _read_lua(f"{name}.lua").splitlines(keepends=True)
    ]
    source = "".join(lines)
    return LuaScript(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())


async def run_pipelined(client: AsyncRedis, calls: Iterable[ScriptCall]) -> list[Any]:
    """Run many script calls in one pipeline (one round trip per Cluster node).

    Returns one entry per call, in order: the script's result or the exception it raised.
    `calls` may be lazy: on the pipelined connection they are written as they are made, so
    Redis runs the first while the rest are built. Calls refused with NOSCRIPT never ran, so
    they are resent as EVAL in a second pipeline.
    """
    made: list[ScriptCall] = []
    results = await _pipeline(client, kept(calls, made), by_sha=True)
    missing = [index for index, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        retried = await _pipeline(client, [made[index] for index in missing], by_sha=False)
        for index, result in zip(missing, retried, strict=True):
            results[index] = result
    return results


def kept(items: Iterable[T], taken: list[T]) -> Iterator[T]:
    """`items`, each also appended to `taken` as it is taken: a lazy input's record."""
    for item in items:
        taken.append(item)
        yield item


async def _pipeline(client: AsyncRedis, calls: Iterable[ScriptCall], *, by_sha: bool) -> list[Any]:
    # execute_command, because redis-py's cluster pipeline blocks its `evalsha` method although
    # routing EVALSHA by its first key is exactly what these single-slot scripts need.
    commands = (
        (
            *(("EVALSHA", call.script.sha) if by_sha else ("EVAL", call.script.source)),
            len(call.keys),
            *call.keys,
            *call.args,
        )
        for call in calls
    )
    if isinstance(client, BatchingClient):
        return await client.execute_many(commands)
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    return list(await pipe.execute(raise_on_error=False))
