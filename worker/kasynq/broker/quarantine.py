"""Archives leased tasks whose stored message cannot be decoded, so they stop blocking recovery.

Go leaves such a task in `active` forever (and its recoverer then fails for every queue). A
message nobody can decode cannot be processed by any server, so kasynq archives it with the
reason in `error_msg`. The archived message is a valid one Go's Inspector can list: the same
id and queue, type `UNDECODABLE_TYPE`, and the original bytes kept as its payload.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from google.protobuf.message import DecodeError

from kasynq import keys
from kasynq.broker.core import Broker, decode_task_message
from kasynq.proto.asynq_pb2 import TaskMessage

log = logging.getLogger(__name__)

UNDECODABLE_TYPE = "kasynq:undecodable"


async def archive_undecodable(broker: Broker, queues: Sequence[str], cutoff: float) -> int:
    """Archive every task with lease score <= `cutoff` (may be inf) whose `msg` does not decode."""
    archived = 0
    upper: int | str = "+inf" if math.isinf(cutoff) else int(cutoff)
    for queue in queues:
        task_ids = await broker.client.zrangebyscore(keys.lease_key(queue), "-inf", upper)
        for raw_id in task_ids:
            task_id = (
                raw_id.decode("utf-8", "replace") if isinstance(raw_id, bytes) else str(raw_id)
            )
            encoded = await broker.client.hget(keys.task_key(queue, task_id), "msg")
            if not isinstance(encoded, bytes):
                continue
            try:
                decode_task_message(encoded)
            except DecodeError as exc:
                reason = f"cannot decode message: {exc}"
                stand_in = TaskMessage(
                    id=task_id, queue=queue, type=UNDECODABLE_TYPE, payload=encoded
                )
                await broker.archive(stand_in, reason)
                log.error("archived undecodable task id=%s queue=%s", task_id, queue)
                archived += 1
    return archived
