"""The Redis side of per-registration rate limits (wire-protocol.md §16).

`take` asks `rate_take.lua` for a start slot on Redis' clock; `delay` moves a task that got
none from `active` back to `scheduled` without touching its message, so the hold-back is
neither a failure nor a retry.
"""

from __future__ import annotations

from redis.exceptions import ResponseError

from kasynq import keys
from kasynq.broker.core import Broker, leave_active_keys
from kasynq.broker.scripts import load_script
from kasynq.errors import ScriptError
from kasynq.proto.asynq_pb2 import TaskMessage

_RATE_TAKE = load_script("rate_take")
_RATE_DELAY = load_script("rate_delay")


async def take(broker: Broker, scope: str, interval_us: int, hold_us: int) -> tuple[bool, int]:
    """(granted, µs to wait before starting) for one start under the limit named `scope`."""
    try:
        granted, wait_us = await _RATE_TAKE.run(
            broker.client, [keys.rate_key(scope)], [interval_us, hold_us]
        )
    except ResponseError as exc:
        raise ScriptError("rate_take", f"redis eval error: {exc}") from exc
    return bool(granted), int(wait_us)


async def delay(broker: Broker, msg: TaskMessage, process_at: int) -> None:
    """Move the active task `msg` to `scheduled` at `process_at` (Unix s), message unchanged.

    Raises `ScriptError` ("NOT FOUND") when the task is no longer active or leased.
    """
    script_keys = leave_active_keys(msg, keys.scheduled_key(msg.queue))
    try:
        await _RATE_DELAY.run(broker.client, script_keys, [msg.id, process_at])
    except ResponseError as exc:
        raise ScriptError("rate_delay", f"redis eval error: {exc}") from exc
