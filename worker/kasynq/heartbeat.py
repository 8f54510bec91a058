"""Publishes ServerInfo/WorkerInfo every 5 s, extends in-flight tasks' leases (heartbeater.beat).

What Go's Inspector, the asynq CLI and asynqmon list as servers and active workers comes from
these writes; `host` is the hostname (the pod name on Kubernetes).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf.timestamp_pb2 import Timestamp

from kasynq.broker import Broker
from kasynq.processor import Processor
from kasynq.proto.asynq_pb2 import ServerInfo, WorkerInfo

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 5.0
STATE_TTL_SECONDS = 10


def _timestamp(unix_seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromNanoseconds(int(unix_seconds * 1_000_000_000))
    return stamp


def default_host() -> str:
    """$HOSTNAME when set (the pod name on Kubernetes, also where several workers share one
    machine, as in the local demo), else the machine's hostname."""
    return os.environ.get("HOSTNAME") or socket.gethostname() or "unknown-host"


@dataclass(frozen=True)
class ServerIdentity:
    """(host, pid, server id) naming the `asynq:servers:{...}` and `asynq:workers:{...}` keys."""

    host: str = field(default_factory=default_host)
    pid: int = field(default_factory=os.getpid)
    server_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Heartbeater:
    """One beat: write server state, extend valid leases, stop workers whose lease expired."""

    def __init__(
        self,
        broker: Broker,
        processor: Processor,
        identity: ServerIdentity,
        concurrency: int,
        queues: Mapping[str, int],
        strict_priority: bool,
        status: Callable[[], str],
    ) -> None:
        self._broker = broker
        self._processor = processor
        self._identity = identity
        self._concurrency = concurrency
        self._queues = dict(queues)
        self._strict = strict_priority
        self._status = status
        self._started_at = time.time()

    def server_info(self) -> ServerInfo:
        identity = self._identity
        return ServerInfo(
            host=identity.host,
            pid=identity.pid,
            server_id=identity.server_id,
            concurrency=self._concurrency,
            queues=self._queues,
            strict_priority=self._strict,
            status=self._status(),
            start_time=_timestamp(self._started_at),
            active_worker_count=len(self._processor.workers),
        )

    def worker_infos(self) -> list[WorkerInfo]:
        identity = self._identity
        return [
            WorkerInfo(
                host=identity.host,
                pid=identity.pid,
                server_id=identity.server_id,
                task_id=worker.msg.id,
                task_type=worker.msg.type,
                task_payload=worker.msg.payload,
                queue=worker.msg.queue,
                start_time=_timestamp(worker.started_at),
                deadline=_timestamp(worker.ctx.deadline),
            )
            for worker in list(self._processor.workers.values())
        ]

    async def beat(self) -> None:
        """Extend leases first (they matter most), then publish the server state."""
        await self._extend_leases()
        await self._broker.write_server_state(
            self.server_info(), self.worker_infos(), STATE_TTL_SECONDS
        )

    async def _extend_leases(self) -> None:
        by_queue: dict[str, list[str]] = defaultdict(list)
        for worker in list(self._processor.workers.values()):
            if worker.lease_valid():  # held past its expiry while no recoverer may take it
                by_queue[worker.msg.queue].append(worker.msg.id)
            else:
                log.warning("lease expired id=%s queue=%s", worker.msg.id, worker.msg.queue)
                self._processor.lease_expired(worker)
        for queue, task_ids in by_queue.items():
            expiry = await self._broker.extend_lease(queue, *task_ids)
            for task_id in task_ids:
                extended = self._processor.workers.get(task_id)
                if extended is not None:
                    extended.lease_expiry = expiry

    async def clear(self) -> None:
        identity = self._identity
        await self._broker.clear_server_state(identity.host, identity.pid, identity.server_id)
