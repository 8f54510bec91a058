"""Task writes on a blocking redis-py client, for the blocking `Client`.

No event loop and no thread: a prepared task goes out as one `EVALSHA` of the same script
`Broker.write_task` runs (`task_write_call`), on the caller's own thread. On standalone Redis
each thread writes on a connection of its own, made (and authenticated) by the client's pool,
whose socket carries commands packed and replies parsed by hiredis: redis-py's generic command
path costs about as much as the round trip on a local Redis. Replies are polled for briefly
before the thread sleeps on its socket (`ReplySpin`).
Sentinel-managed clients take that generic path, so that their pool follows the master.
A connection is never used in another process: after `fork()` (gunicorn `--preload`, Celery
prefork, multiprocessing) the child opens its own, as redis-py's pools do for everything
else. On Redis Cluster the queue is registered in `asynq:queues` (its own slot) first, as
Go's SADD, through redis-py's cluster client.
"""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import hiredis
import redis
import redis.cluster
import redis.sentinel
from hiredis import pack_command
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kasynq import keys
from kasynq.broker.core import TaskWrite, task_write_call, task_write_error
from kasynq.broker.scripts import ScriptCall

if TYPE_CHECKING:
    from kasynq.dependencies import Plan

T = TypeVar("T")

BlockingRedis = redis.Redis | redis.cluster.RedisCluster

DEFAULT_SPIN_US = 100.0
"""How long a blocking call polls for its reply before sleeping: a Redis on the same host or
node answers within it (see `ReplySpin`)."""


class BlockingWriter:
    """Creates tasks on a blocking client; each call is one round trip on standalone Redis."""

    def __init__(
        self,
        client: BlockingRedis,
        *,
        clock: Callable[[], int] | None = None,
        spin_us: float = DEFAULT_SPIN_US,
    ) -> None:
        """`client` must answer bytes (`decode_responses=False`); `clock` gives Unix ns;
        `spin_us`: how long a call polls for its reply before sleeping (`ReplySpin`)."""
        if not spin_us >= 0:
            raise ValueError(f"spin_us must be 0 or more: spin_us={spin_us!r}")
        self.client = client
        self._spin_ns = int(spin_us * 1000)
        self._clock: Callable[[], int] = clock or time.time_ns
        self._on_cluster = isinstance(client, redis.cluster.RedisCluster)
        # Sentinel-managed connections find the master through their pool's `get_connection`
        self._own_connections = isinstance(client, redis.Redis) and not isinstance(
            client.connection_pool, redis.sentinel.SentinelConnectionPool
        )
        self._local = _ThreadConnection()
        # weakly: a thread that ends drops its connection, which redis-py closes when collected
        self._made: weakref.WeakSet[Any] = weakref.WeakSet()  # redis-py connections
        self._made_lock = threading.Lock()

    def now_ns(self) -> int:
        return self._clock()

    def write_task(self, write: TaskWrite) -> None:
        """Register the queue and create the task; raise its error if any."""
        registration: object = None
        if self._on_cluster:
            registration = _attempt(lambda: self.client.sadd(keys.ALL_QUEUES, write.msg.queue))
            call = task_write_call(write, self._clock(), register=False)
            result = _attempt(lambda: call.script.run_blocking(self.client, call.keys, call.args))
        elif self._own_connections:
            call = task_write_call(write, self._clock(), register=True)
            result = _attempt(lambda: self._run_on_own_connection(call))
        else:
            call = task_write_call(write, self._clock(), register=True)
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
        results = self._run_calls(calls)
        return [
            task_write_error(write, result, registration.get(write.msg.queue))
            for write, result in zip(writes, results, strict=True)
        ]

    @property
    def on_cluster(self) -> bool:
        return self._on_cluster

    def run_plan(self, plan: Plan[T]) -> T:
        """Run a dependency plan (`kasynq.dependencies`), each step as one pipeline."""
        try:
            calls = next(plan)
            while True:
                calls = plan.send(self._run_calls(calls) if calls else [])
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _run_calls(self, calls: Sequence[ScriptCall]) -> list[object]:
        """Script calls in one pipeline (per Cluster node); one reply or error per call."""
        results = self._pipelined(calls, by_sha=True)
        missing = [
            index for index, result in enumerate(results) if isinstance(result, NoScriptError)
        ]
        if missing:  # never ran: send the source once, which caches it again
            retried = self._pipelined([calls[index] for index in missing], by_sha=False)
            for index, result in zip(missing, retried, strict=True):
                results[index] = result
        return results

    def _pipelined(self, calls: Sequence[ScriptCall], *, by_sha: bool) -> list[object]:
        pipe = self.client.pipeline(transaction=False)
        for call in calls:
            script = ("EVALSHA", call.script.sha) if by_sha else ("EVAL", call.script.source)
            pipe.execute_command(*script, len(call.keys), *call.keys, *call.args)
        return list(pipe.execute(raise_on_error=False))

    def _run_on_own_connection(self, call: ScriptCall) -> object:
        """`call` by SHA (NOSCRIPT: by source) on this thread's connection; a connection that
        failed is dropped, not reused."""
        connection = self._connection()
        head: tuple[Any, ...] = (len(call.keys), *call.keys, *call.args)
        try:
            reply = connection.call(pack_command(("EVALSHA", call.script.sha, *head)))
            if isinstance(reply, NoScriptError):
                reply = connection.call(pack_command(("EVAL", call.script.source, *head)))
        except (RedisConnectionError, RedisTimeoutError):
            self._local.connection = None
            connection.close()
            raise
        return reply

    def _connection(self) -> _RawConnection:
        """This thread's connection in this process; one Redis closed meanwhile is replaced."""
        local, pid = self._local, os.getpid()
        connection = local.connection
        if connection is not None and local.pid == pid:
            if not connection.stale():
                return connection
            local.connection = None
            connection.close()
        assert isinstance(self.client, redis.Redis)
        made = self.client.connection_pool.make_connection()
        with self._made_lock:
            self._made.add(made)
        connection = _RawConnection(made, self._spin_ns)  # connects: raises if unreachable
        local.connection, local.pid = connection, pid
        return connection

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        """Close the connections this writer made (not the client's own pool). In a forked
        child redis-py only closes the inherited sockets, leaving the parent's connections up."""
        with self._made_lock:
            made, self._made = list(self._made), weakref.WeakSet()
        for connection in made:
            connection.disconnect()


class _RawConnection:
    """A redis-py connection (which did the handshake: TLS, AUTH, SELECT) whose socket is
    written and read directly, with a hiredis reader: redis-py's command path (health checks,
    error wrapping on every call) costs more than the round trip on a local Redis. Replies
    are hiredis's (`ResponseError`s for error replies, `NoScriptError` for NOSCRIPT)."""

    __slots__ = ("_connection", "_fd", "_poller", "_reader", "_socket", "_spin")

    def __init__(self, connection: Any, spin_ns: int) -> None:
        self._connection = connection
        connection.connect()
        self._socket: socket.socket = self._connection._sock
        self._fd = self._socket.fileno()
        self._reader = hiredis.Reader(replyError=_reply_error)
        self._poller = select.poll()
        self._poller.register(self._socket, select.POLLIN)
        # Polling reads the descriptor directly: only a plain socket whose descriptor is
        # non-blocking (Python makes it so for a socket with a timeout) can be polled that way.
        plain = not isinstance(self._socket, ssl.SSLSocket) and self._socket.gettimeout()
        self._spin = ReplySpin(spin_ns if plain else 0)

    def call(self, packed: bytes) -> object:
        """Send one packed command and read its reply; raises redis-py's ConnectionError
        and TimeoutError (the socket keeps the client's `socket_timeout`)."""
        sock = self._socket
        try:
            sock.sendall(packed)
            reply = self._polled_reply() if self._spin.wanted() else False
            while reply is False:
                reply = self._parsed(sock.recv(_READ_SIZE))
        except TimeoutError as exc:  # socket.timeout: before OSError, of which it is one
            raise RedisTimeoutError(f"Timeout reading from {self._where()}") from exc
        except OSError as exc:
            message = f"Error {exc.errno} on {self._where()}: {exc.strerror or exc}"
            raise RedisConnectionError(message) from exc
        return reply

    def _polled_reply(self) -> object:
        """The reply if it comes within the spin, else False (then the call sleeps on the
        socket for the rest, with the bytes read so far in the reader)."""
        fd, spin = self._fd, self._spin
        until = time.perf_counter_ns() + spin.budget_ns
        while True:
            try:
                data = os.read(fd, _READ_SIZE)
            except BlockingIOError:
                if time.perf_counter_ns() < until:
                    continue
                spin.record(arrived=False)
                return False
            reply = self._parsed(data)
            if reply is not False:
                spin.record(arrived=True)
                return reply

    def _parsed(self, data: bytes) -> object:
        """The reply completed by `data` read from the socket, else False; no data: Redis
        closed the connection."""
        if not data:
            raise RedisConnectionError("Connection closed by server.")
        self._reader.feed(data)
        return self._reader.gets()

    def stale(self) -> bool:
        """An idle connection has nothing to read: a readable one was closed by Redis (a
        restart, `timeout`, CLIENT KILL) or holds stray data, and must not be used."""
        pending = getattr(self._socket, "pending", None)  # TLS: bytes decrypted already
        return bool(self._poller.poll(0)) or bool(pending is not None and pending())

    def close(self) -> None:
        self._connection.disconnect()

    def _where(self) -> str:
        connection = self._connection
        return getattr(connection, "path", "") or f"{connection.host}:{connection.port}"


_READ_SIZE = 65_536


class ReplySpin:
    """Whether a call polls for its reply before sleeping on the socket, and for how long.

    A thread asleep on a socket takes tens of microseconds to wake when the reply lands
    (about 45 µs on this project's 2-core VM), longer than a local Redis takes to answer, and
    as long again as all of the enqueue's own work. Polling for `budget_ns` instead catches a
    local reply at once, as Go's scheduler does by spinning before it parks (Go's
    `Client.Enqueue` paces the comparison: docs/benchmarks.md). A Redis that keeps answering
    later than that (another host) would only burn the budget on every call: after
    `MISSES_TO_PAUSE` late replies in a row polling pauses for `PAUSE_CALLS` calls, then is
    tried again.
    """

    MISSES_TO_PAUSE = 3
    PAUSE_CALLS = 100

    __slots__ = ("_misses", "_paused", "budget_ns")

    def __init__(self, budget_ns: int) -> None:
        self.budget_ns = budget_ns
        self._misses = 0
        self._paused = 0

    def wanted(self) -> bool:
        """Whether this call should poll (counting down a pause)."""
        if self._paused:
            self._paused -= 1
            return False
        return self.budget_ns > 0

    def record(self, *, arrived: bool) -> None:
        """The outcome of a poll: the reply arrived within the budget, or not."""
        if arrived:
            self._misses = 0
            return
        self._misses += 1
        if self._misses >= self.MISSES_TO_PAUSE:
            self._misses = 0
            self._paused = self.PAUSE_CALLS


def _reply_error(message: str) -> ResponseError:
    """An error reply as redis-py's exception: NOSCRIPT as `NoScriptError`."""
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return ResponseError(message)


class _ThreadConnection(threading.local):
    """A thread's own connection and the process that made it."""

    connection: _RawConnection | None = None
    pid: int = 0


def _attempt(command: Callable[[], object]) -> object:
    """The command's reply, or the Redis error reply it got (connection errors raise)."""
    try:
        return command()
    except ResponseError as exc:
        return exc
