"""The blocking Client: thread-safe, fork-safe, bounded in time, refuses use after close."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from kasynq import keys
from kasynq._sync import LoopThread
from kasynq.broker.blocking import ReplySpin
from kasynq.client import DEFAULT_CALL_TIMEOUT_SECONDS, Client
from kasynq.task import Task

from devenv.redis_servers import RedisServer


def test_many_threads_share_one_client(redis_url: str) -> None:
    with Client.from_url(redis_url) as producer, ThreadPoolExecutor(8) as pool:
        infos = list(pool.map(lambda n: producer.enqueue(Task("t", str(n).encode())), range(200)))
    assert len({info.id for info in infos}) == 200
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.llen(keys.pending_key("default")) == 200


def test_closed_client_refuses_work(redis_url: str) -> None:
    producer = Client.from_url(redis_url)
    producer.close()
    producer.close()
    with pytest.raises(RuntimeError, match="closed"):
        producer.enqueue(Task("t"))


def test_enqueue_runs_on_the_callers_thread(redis_url: str) -> None:
    """No event-loop thread: nothing that a fork could leave behind."""
    before = threading.active_count()
    with Client.from_url(redis_url) as producer:
        producer.enqueue(Task("t"))
        assert threading.active_count() == before


def test_client_made_before_fork_works_in_the_child(redis_url: str) -> None:
    """gunicorn --preload, Celery prefork, multiprocessing: the child enqueues at once."""
    producer = Client.from_url(redis_url)
    producer.enqueue(Task("t", b"parent"))  # the parent's connection is open when it forks
    pid = os.fork()
    if pid == 0:  # the child: exit status 0 only when its enqueue went through
        status = 1
        try:
            producer.enqueue(Task("t", b"child"))
            status = 0
        finally:
            os._exit(status)
    deadline = time.monotonic() + 10
    while (waited := os.waitpid(pid, os.WNOHANG)) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError("the forked child's enqueue hung")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(waited[1]) == 0
    producer.enqueue(Task("t", b"parent again"))
    producer.close()
    with redis.Redis.from_url(redis_url) as conn:
        assert conn.llen(keys.pending_key("default")) == 3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A URL whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


def test_every_call_has_a_timeout(silent_server: str) -> None:
    outcome: list[BaseException] = []

    def enqueue() -> None:
        try:
            Client.from_url(silent_server).enqueue(Task("t"))
        except BaseException as exc:  # the test looks at whatever it was
            outcome.append(exc)

    started = time.monotonic()
    caller = threading.Thread(target=enqueue, daemon=True)
    caller.start()
    caller.join(DEFAULT_CALL_TIMEOUT_SECONDS + 5)
    assert not caller.is_alive(), "the enqueue never returned"
    assert isinstance(outcome[0], redis.TimeoutError)
    assert time.monotonic() - started < DEFAULT_CALL_TIMEOUT_SECONDS + 2
    with Client.from_url(silent_server, timeout=0.2) as quick, pytest.raises(redis.TimeoutError):
        quick.enqueue(Task("t"))
    with pytest.raises(ValueError, match="timeout"):
        Client.from_url(silent_server, timeout=0)


def test_loop_thread_refuses_calls_from_its_own_thread() -> None:
    loop = LoopThread()
    try:

        async def reenter() -> str:
            try:
                return loop.run(asyncio.sleep(0, "never"))
            except RuntimeError as exc:
                return str(exc)

        assert "own event loop" in loop.run(reenter())
        assert loop.run(asyncio.sleep(0, "ok")) == "ok"
    finally:
        loop.close()
    assert loop.closed


def test_connections_survive_a_redis_restart(redis_factory: type[RedisServer]) -> None:
    """A thread's own connection, closed by a restart meanwhile, is reopened, not failed on."""
    server = redis_factory().start()
    with Client.from_url(server.url) as producer:
        producer.enqueue(Task("t"))
        server.stop()
        with pytest.raises(redis.ConnectionError):
            producer.enqueue(Task("t"))
        server.start()
        producer.enqueue(Task("t"))
        assert producer.enqueue_many([Task("t"), Task("t")])[1].queue == "default"


def test_connections_of_ended_threads_are_closed(redis_url: str) -> None:
    """One connection per thread, but not one per thread that ever was (a thread per request)."""
    with Client.from_url(redis_url) as producer, redis.Redis.from_url(redis_url) as conn:
        before = int(conn.info("clients")["connected_clients"])
        for _ in range(20):
            thread = threading.Thread(target=producer.enqueue, args=(Task("t"),))
            thread.start()
            thread.join()
        gc.collect()
        assert int(conn.info("clients")["connected_clients"]) <= before + 2


def test_close_drops_the_threads_connections_of_a_client_it_does_not_own(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as conn:
        before = int(conn.info("clients")["connected_clients"])
        producer = Client(conn)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: producer.enqueue(Task("t")), range(40)))
        producer.close()
        assert int(conn.info("clients")["connected_clients"]) == before
        assert conn.ping()  # the client given stays open


def test_reply_spin_pauses_after_late_replies_and_tries_again() -> None:
    """Polling for a reply saves the sleeping thread's wake-up on a local Redis (issue #17:
    the blocking Client at 0.7x Go's Client.Enqueue), but would burn its budget on every call
    to a Redis on another host: late replies in a row pause it, then it is tried again."""
    spin = ReplySpin(100_000)
    assert spin.wanted()
    for _ in range(ReplySpin.MISSES_TO_PAUSE - 1):
        spin.record(arrived=False)
    spin.record(arrived=True)  # a reply in time clears the count
    for _ in range(ReplySpin.MISSES_TO_PAUSE):
        assert spin.wanted()
        spin.record(arrived=False)
    assert [spin.wanted() for _ in range(ReplySpin.PAUSE_CALLS)] == [False] * ReplySpin.PAUSE_CALLS
    assert spin.wanted()
    assert not ReplySpin(0).wanted()


def test_replies_later_than_the_spin_are_read_from_the_socket(redis_url: str) -> None:
    """A reply that misses the poll (CLIENT PAUSE holds it 50 ms) is read by the sleeping
    socket read; calls during the pause that follows, and after it, get their own replies."""
    with Client.from_url(redis_url) as producer, redis.Redis.from_url(redis_url) as admin:
        ids = [producer.enqueue(Task("t")).id]
        for _ in range(ReplySpin.MISSES_TO_PAUSE + 1):
            admin.execute_command("CLIENT", "PAUSE", 50, "WRITE")
            started = time.monotonic()
            ids.append(producer.enqueue(Task("t")).id)
            assert time.monotonic() - started >= 0.04
        ids += [info.id for info in producer.enqueue_many([Task("t")])]  # type: ignore[union-attr]
        ids += [producer.enqueue(Task("t")).id for _ in range(ReplySpin.PAUSE_CALLS + 2)]
        pending = admin.lrange(keys.pending_key("default"), 0, -1)
        assert sorted(item.decode() for item in pending) == sorted(ids)
    with pytest.raises(ValueError, match="spin_us=-1"):
        Client.from_url(redis_url, spin_us=-1)
    with Client.from_url(redis_url, spin_us=0) as never_polls:
        assert never_polls.enqueue(Task("t")).state == "pending"
