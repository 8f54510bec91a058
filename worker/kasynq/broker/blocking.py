"""Task writes on a blocking redis-py client, for the blocking `Client`.

No event loop and no thread: a prepared task goes out as one `EVALSHA` of the same script
`Broker.write_task` runs (`task_write_call`), on the caller's own thread. redis-py's blocking
connection pools notice a fork and open new connections in the child, so a client made
before `fork()` (gunicorn `--preload`, Celery prefork, multiprocessing) works in the child.
On Redis Cluster the queue is registered in `asynq:queues` (its own slot) first, as Go's SADD.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import redis
import redis.cluster
from redis.exceptions import NoScriptError, ResponseError

from kasynq import keys
from kasynq.broker.core import TaskWrite, task_write_call, task_write_error
from kasynq.broker.scripts import ScriptCall

BlockingRedis = redis.Redis | redis.cluster.RedisCluster


class BlockingWriter:
    """Creates tasks on a blocking client; each call is one round trip on standalone Redis."""

    def __init__(self, client: BlockingRedis, *, clock: Callable[[], int] | None = None) -> None:
        """`client` must answer bytes (`decode_responses=False`); `clock` gives Unix ns."""
        self.client = client
        self._clock: Callable[[], int] = clock or time.time_ns
        self._on_cluster = isinstance(client, redis.cluster.RedisCluster)

    def now_ns(self) -> int:
        return self._clock()

    def write_task(self, write: TaskWrite) -> None:
        """Register the queue and create the task; raise its error if any."""
        registration: object = None
        if self._on_cluster:
            registration = _attempt(lambda: self.client.sadd(keys.ALL_QUEUES, write.msg.queue))
        call = task_write_call(write, self._clock(), register=not self._on_cluster)
        result = _attempt(lambda: call.script.run_blocking(self.client, call.keys, call.args))
        error = task_write_error(write, result, registration)
        if error is not None:
            raise error

    def write_tasks(self, writes: Sequence[TaskWrite]) -> list[Exception | None]:
        """Create many tasks in one pipeline (per Cluster node); one error or None per write."""
        now_ns = self._clock()
        registration: dict[str, object] = {}
        if self._on_cluster:
            queues = list(dict.fromkeys(write.msg.queue for write in writes))
            pipe = self.client.pipeline()
            for queue in queues:
                pipe.sadd(keys.ALL_QUEUES, queue)
            registration = dict(zip(queues, pipe.execute(raise_on_error=False), strict=True))
        calls = [task_write_call(w, now_ns, register=not self._on_cluster) for w in writes]
        results = self._pipelined(calls, by_sha=True)
        missing = [
            index for index, result in enumerate(results) if isinstance(result, NoScriptError)
        ]
        if missing:  # never ran: send the source once, which caches it again
            retried = self._pipelined([calls[index] for index in missing], by_sha=False)
            for index, result in zip(missing, retried, strict=True):
                results[index] = result
        return [
            task_write_error(write, result, registration.get(write.msg.queue))
            for write, result in zip(writes, results, strict=True)
        ]

    def _pipelined(self, calls: Sequence[ScriptCall], *, by_sha: bool) -> list[object]:
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            script = ("EVALSHA", call.script.sha) if by_sha else ("EVAL", call.script.source)
            pipe.execute_command(*script, len(call.keys), *call.keys, *call.args)
        return list(pipe.execute(raise_on_error=False))

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()


def _attempt(command: Callable[[], object]) -> object:
    """The command's reply, or the Redis error reply it got (connection errors raise)."""
    try:
        return command()
    except ResponseError as exc:
        return exc
