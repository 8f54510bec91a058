"""Redis side of the leader-elected scheduler: the group's lock, fencing and tick firing.

Per scheduler group:
* `kasynq:scheduler:{<group>}:leader` - the lock (SET NX PX; value = the leader's ID),
  renewed with compare-and-extend and released with compare-and-delete;
* `kasynq:scheduler:{<group>}:token` - fencing tokens, one INCR per acquisition (same slot);
* `kasynq:{<queue>}:scheduler:<group>` - per queue the entries fire into: the highest token
  seen (`fence`) and the last fired tick per entry (`tick:<entry>`). It lives in the queue's
  slot, so one script checks the fence, checks and records the tick and creates the task,
  also on Redis Cluster. A deposed leader's token is below the fence: it cannot enqueue.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from enum import IntEnum

from kasynq import keys
from kasynq.broker.core import Broker, TaskWrite, task_write_call
from kasynq.broker.scripts import LuaScript, load_script
from kasynq.connection import AsyncRedis

_ACQUIRE = load_script("leader_acquire")
_RENEW = load_script("leader_renew")
_RELEASE = load_script("leader_release")
_RETOKEN = load_script("leader_retoken")
_FENCE = load_script("leader_fence")
_TASK_SCRIPT_MARKER = "-- #task_script\n"


class FireStatus(IntEnum):
    """What `fire_tick` did."""

    FIRED = 1
    ALREADY_FIRED = 0
    FENCED = -1


class Created(IntEnum):
    """The task script's answer when a tick fired (Go's enqueue result codes)."""

    CREATED = 1
    TASK_ID_EXISTS = 0
    UNIQUE_LOCK_HELD = -1


@dataclass(frozen=True, slots=True)
class FireResult:
    status: FireStatus
    created: Created | None

    @property
    def enqueued(self) -> bool:
        return self.status is FireStatus.FIRED and self.created is Created.CREATED


@functools.cache
def _fire_script(task_script: LuaScript) -> LuaScript:
    """`leader_fire.lua` with the broker's task-creating script spliced in as `create`."""
    template = load_script("leader_fire").source
    source = template.replace(_TASK_SCRIPT_MARKER, task_script.source.rstrip("\n") + "\n", 1)
    name = f"leader_fire+{task_script.name}"
    return LuaScript(name, source, hashlib.sha1(source.encode("utf-8")).hexdigest())


class LeaderLock:
    """The lock of one scheduler group, held under `owner` (the scheduler's ID)."""

    def __init__(self, client: AsyncRedis, group: str, owner: str) -> None:
        self._client = client
        self._owner = owner
        self._lock = keys.scheduler_leader_key(group)
        self._token = keys.scheduler_token_key(group)

    async def acquire(self, ttl_ms: int) -> int:
        """A new fencing token when the lock was free (now ours for `ttl_ms`), else 0."""
        token = await _ACQUIRE.run(self._client, [self._lock, self._token], [self._owner, ttl_ms])
        return int(token)

    async def renew(self, ttl_ms: int) -> bool:
        """Extend our lock to `ttl_ms`; False when it expired or another owner holds it."""
        return bool(await _RENEW.run(self._client, [self._lock], [self._owner, ttl_ms]))

    async def retoken(self, fence: int) -> int:
        """A token above `fence` while the lock is ours (the counter fell behind), else 0."""
        token = await _RETOKEN.run(self._client, [self._lock, self._token], [self._owner, fence])
        return int(token)

    async def release(self) -> bool:
        """Delete the lock if it is still ours."""
        return bool(await _RELEASE.run(self._client, [self._lock], [self._owner]))


class TickStore:
    """Fences and fired ticks of one scheduler group, per queue."""

    def __init__(self, broker: Broker, group: str) -> None:
        self._broker = broker
        self._group = group

    async def raise_fence(self, queue: str, token: int) -> int:
        """Fence older tokens off `queue`; returns the fence: `token`, or a newer one."""
        state = keys.scheduler_ticks_key(queue, self._group)
        return int(await _FENCE.run(self._broker.client, [state], [token]))

    async def last_tick(self, queue: str, entry_key: str) -> int | None:
        """Unix s of the last tick fired for the entry, None if it never fired."""
        state = keys.scheduler_ticks_key(queue, self._group)
        value = await self._broker.client.hget(state, f"tick:{entry_key}")
        return None if value is None else int(value)

    async def fire(self, token: int, entry_key: str, tick: int, write: TaskWrite) -> FireResult:
        """Create the tick's task unless the tick already fired or `token` is fenced off.

        The queue is registered in `asynq:queues` first (its own slot, as Go's SADD).
        """
        broker = self._broker
        queue = write.msg.queue
        await broker.client.sadd(keys.ALL_QUEUES, queue)
        # the queue's slot only: registration happens above, in its own slot
        call = task_write_call(write, broker.now_ns(), register=False)
        script = _fire_script(call.script)
        state = keys.scheduler_ticks_key(queue, self._group)
        status, created = await script.run(
            broker.client, [state, *call.keys], [token, entry_key, tick, *call.args]
        )
        fire_status = FireStatus(int(status))
        return FireResult(
            fire_status, Created(int(created)) if fire_status is FireStatus.FIRED else None
        )
