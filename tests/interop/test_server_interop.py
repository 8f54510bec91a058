"""Issue 4, "Prove it against Go": kasynq servers and Go asynq servers are interchangeable.

Python servers run as separate processes (tests/interop/pyserver.py) configured with the
same JSON as Go's (`goasynq server`), with the same handler behaviours and the same record
of every handler call, so every scenario runs on either side and compares like with like.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.cluster
from kasynq.client import Client
from kasynq.inspector import Inspector
from kasynq.task import Task

from devenv.goasynq import (
    GoAsynq,
    GoAsynqError,
    b64decode,
    b64encode,
    task_spec,
)
from devenv.processes import wait_until
from devenv.redis_servers import RedisCluster, RedisServer
from tests.interop.servers import SERVERS, behaviour, events, ok_ids, start

pytestmark = pytest.mark.requires_go

RESULT = b"result \x00\xff"


MixedTask = tuple[str, bytes, dict[str, Any]]


def mixed_task(index: int) -> MixedTask:
    """Type, payload and options of task `index` of a mixed-options batch."""
    deadline = datetime.now(UTC) + timedelta(hours=1)
    variants: list[tuple[bytes, dict[str, Any]]] = [
        (behaviour(result=b64encode(RESULT), n=index), {"retention": 600}),
        (behaviour(n=index), {"queue": "critical", "max_retry": 3, "timeout": 30}),
        (behaviour(n=index), {"task_id": f"task-{index}", "deadline": deadline}),
        (behaviour(n=index), {"unique": 600, "process_in": 1}),
    ]
    payload, options = variants[index % len(variants)]
    return f"mixed:{index % len(variants)}", payload, options


def enqueue_batch(
    go: GoAsynq, producer: str, connect: Callable[[], Client], batch: list[MixedTask]
) -> list[str]:
    """Enqueue `batch` with Go's client or ours (`connect()`); the task IDs, in order."""
    if producer == "go":
        results = go.enqueue_many([task_spec(kind, p, **opts) for kind, p, opts in batch])
        assert [r.get("error") for r in results] == [None] * len(batch)
        return [r["task"]["id"] for r in results]
    with connect() as client:
        infos = client.enqueue_many([Task(kind, p, **opts) for kind, p, opts in batch])
    assert not [info for info in infos if isinstance(info, Exception)]
    return [info.id for info in infos]  # type: ignore[union-attr]


def drain(go: GoAsynq, consumer: str, conn: Any, count: int, timeout: float) -> None:
    """Run a `consumer` server on both queues until `count` handler calls are recorded."""
    server = start(
        go,
        consumer,
        concurrency=10,
        queues={"default": 1, "critical": 2},
        delayed_task_check_interval=1,
        record_list="done",
    )
    wait_until(lambda: conn.llen("done") >= count, f"{count} handler calls", timeout=timeout)
    assert server.terminate() == 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("producer", "consumer"), [("go", "py"), ("py", "go")])
def test_each_task_processed_once_by_the_other_side(
    go: GoAsynq, redis_url: str, producer: str, consumer: str
) -> None:
    """Issue 4 items 1 and 2: 2,000 tasks of mixed options, each processed exactly once,
    results kept where retention is set, both Inspectors seeing them completed."""
    count = 2000
    batch = [mixed_task(i) for i in range(count)]
    ids = enqueue_batch(go, producer, lambda: Client.from_url(redis_url), batch)
    conn = redis.Redis.from_url(redis_url)
    drain(go, consumer, conn, count, timeout=180)
    done = events(conn, "done")
    assert sorted(ok_ids(conn)) == sorted(ids)  # every task once, nothing else, no failure
    assert {e["server"] for e in done} == {consumer}
    with Inspector.from_url(redis_url) as inspector:
        for queue, share in (("default", 3 * count // 4), ("critical", count // 4)):
            go_info = go.inspect("queue-info", queue)
            py_info = inspector.get_queue_info(queue)
            assert go_info["processed"] == py_info.processed == share
            assert go_info["failed"] == py_info.failed == 0
            left = [go_info[s] for s in ("pending", "active", "scheduled", "retry", "archived")]
            assert left == [0, 0, 0, 0, 0]
        completed = go.inspect("list", "default", "completed", size=count)
        assert len(completed) == count // 4
        assert {b64decode(info["result"]) for info in completed} == {RESULT}
        sample = completed[0]["id"]
        assert inspector.get_task_info("default", sample).result == RESULT
    with pytest.raises(GoAsynqError) as gone:
        go.inspect("task-info", "critical", ids[1])
    assert gone.value.kind == "task_not_found"


def retry_outcomes(go: GoAsynq, redis_url: str, server_kind: str) -> dict[str, Any]:
    """Run the retry scenario on one server; what Go's Inspector then shows."""
    go.enqueue("flaky", behaviour(fail_times=2, error="flaky failure"), max_retry=5, retention=600)
    go.enqueue("doomed", behaviour(fail_times=-1, error="doomed failure"), max_retry=2)
    go.enqueue("fatal", behaviour(skip_retry=True, error="fatal failure"), max_retry=5)
    go.enqueue("revoked", behaviour(revoke=True), max_retry=5)
    go.enqueue("panicky", behaviour(panic=True), max_retry=0)
    go.enqueue("slowpoke", behaviour(sleep_ms=10_000), max_retry=0, timeout=1)
    server = start(go, server_kind, concurrency=4, retry_delay=1, delayed_task_check_interval=1)

    def finished() -> bool:
        info = go.inspect("queue-info", "default")
        return (info["size"], info["completed"], info["archived"]) == (5, 1, 4)

    wait_until(finished, "all retries to end", timeout=60)
    server.terminate()
    tasks: dict[str, Any] = {}
    for state in ("completed", "archived"):
        for info in go.inspect("list", "default", state):
            tasks[info["type"]] = {
                "state": info["state"],
                "retried": info["retried"],
                "max_retry": info["max_retry"],
                "last_err": info["last_err"],
                "failed_before": info["last_failed_at"] is not None,
            }
    counters = go.inspect("queue-info", "default")
    tasks["counters"] = {k: counters[k] for k in ("processed", "failed", "size")}
    return tasks


@pytest.mark.timeout(120)
def test_retries_and_archive_match_go(go: GoAsynq, redis_url: str) -> None:
    """Issue 4 item 4 / checklist C26-C33: same retry counts, error texts (SkipRetry, panic,
    timeout) and counters as a Go server; RevokeTask deletes the task."""
    by_server = {}
    for kind in SERVERS:
        redis.Redis.from_url(redis_url).flushall()
        by_server[kind] = retry_outcomes(go, redis_url, kind)
    go_side, py_side = by_server["go"], by_server["py"]
    # Go's panic text names the Go source line; ours names the exception.
    assert go_side["panicky"]["last_err"].startswith("panic")
    py_side["panicky"]["last_err"] = go_side["panicky"]["last_err"]
    assert py_side == go_side
    assert go_side["flaky"] == {
        "state": "completed",
        "retried": 2,
        "max_retry": 5,
        "last_err": "flaky failure",
        "failed_before": True,
    }
    assert go_side["doomed"]["retried"] == 2 and go_side["doomed"]["state"] == "archived"
    assert go_side["fatal"]["last_err"] == "fatal failure: skip retry for the task"
    assert go_side["slowpoke"]["last_err"] == "context deadline exceeded"
    assert go_side["counters"] == {"processed": 10, "failed": 8, "size": 5}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_cancellation_reaches_the_running_handler(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """Issue 4 item 5: an Inspector's CancelProcessing (Go's for our server, ours for Go's)
    cancels the running handler; the task is retried with the cancellation error."""
    conn = redis.Redis.from_url(redis_url)
    server = start(go, server_kind, record_list="done", started_list="started", retry_delay=600)
    info = go.enqueue("slow", behaviour(sleep_ms=60_000))
    wait_until(lambda: conn.llen("started") == 1, "the handler to start")
    time.sleep(0.5)  # the subscriber is listening by now; publish after the start
    if server_kind == "py":
        go.inspect("cancel", info["id"])
    else:
        with Inspector.from_url(redis_url) as inspector:
            inspector.cancel_processing(info["id"])
    wait_until(lambda: conn.llen("done") == 1, "the handler to see the cancellation", 10)
    assert events(conn, "done")[0]["outcome"] == "canceled"
    wait_until(lambda: go.inspect("queue-info", "default")["retry"] == 1, "the task in retry")
    retried = go.inspect("task-info", "default", info["id"])
    assert retried["last_err"] == "context canceled"
    assert retried["retried"] == 1
    server.terminate()


@pytest.mark.timeout(60)
def test_go_inspector_lists_our_server_and_workers(go: GoAsynq, redis_url: str) -> None:
    """Issue 4 item 6 / checklist D44-46: Go's Servers() shows our server, workers, status."""
    conn = redis.Redis.from_url(redis_url)
    server = go.start_py_server(
        concurrency=3,
        queues={"critical": 6, "default": 3},
        started_list="started",
        shutdown_timeout=1,
    )
    deadline = datetime.now(UTC) + timedelta(minutes=10)
    infos = [
        go.enqueue("slow:a", behaviour(sleep_ms=60_000), queue="critical", timeout=300),
        go.enqueue("slow:b", behaviour(sleep_ms=60_000), deadline=deadline),
    ]
    wait_until(lambda: conn.llen("started") == 2, "both handlers to start")
    wait_until(
        lambda: len(go.inspect("servers")[0]["active_workers"]) == 2,
        "the heartbeat to list both workers",
        timeout=10,
    )
    (listed,) = go.inspect("servers")
    assert listed["host"] == socket.gethostname()
    assert listed["pid"] == server.pid
    assert listed["concurrency"] == 3
    assert listed["queues"] == {"critical": 6, "default": 3}
    assert listed["strict_priority"] is False
    assert listed["status"] == "active"
    assert abs(listed["started"] - time.time()) < 30
    workers = {w["task_id"]: w for w in listed["active_workers"]}
    assert set(workers) == {info["id"] for info in infos}
    first, second = (workers[info["id"]] for info in infos)
    assert (first["task_type"], first["queue"]) == ("slow:a", "critical")
    assert b64decode(first["task_payload"]) == behaviour(sleep_ms=60_000)
    assert abs(first["deadline"] - (first["started"] + 300)) < 2
    assert abs(second["deadline"] - deadline.timestamp()) < 1
    server.stop_fetching()
    wait_until(lambda: go.inspect("servers")[0]["status"] == "stopped", "status stopped", 10)
    server.terminate(timeout=20)
    assert go.inspect("servers") == []
    # Past the shutdown timeout both tasks were pushed back to pending, retried unchanged.
    assert [i["retried"] for i in go.inspect("list", "default", "pending")] == [0]
    assert [i["retried"] for i in go.inspect("list", "critical", "pending")] == [0]


@pytest.mark.timeout(300)
def test_mixed_pool_survives_kill_9(
    go_asynq: Path, redis_url: str, redis_factory: type[RedisServer]
) -> None:
    """Issue 4 item 3 / checklist C40: a Go and a Python server share the queues; one is killed
    with SIGKILL mid-run; every task still completes, and the survivor recovers the dead
    one's leased tasks as Go does: as a retry with "asynq: task lease expired", no earlier
    than 30 s after the lease expired and within about two minutes.

    Both victims at once, each pool on its own Redis: the two minutes are Go's lease and
    recoverer timings, spent waiting, so running them side by side halves the test."""
    other = redis_factory().start()
    with (
        GoAsynq.standalone(go_asynq, redis_url) as go_first,
        GoAsynq.standalone(go_asynq, other.url) as go_second,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        cases = [
            pool.submit(_mixed_pool_survives_kill_9, go_first, redis_url, "py"),
            pool.submit(_mixed_pool_survives_kill_9, go_second, other.url, "go"),
        ]
        for case in cases:
            case.result()


def _mixed_pool_survives_kill_9(go: GoAsynq, redis_url: str, victim: str) -> None:
    count = 300
    work = behaviour(sleep_ms=200)
    ids = [r["task"]["id"] for r in go.enqueue_many([task_spec("work", work)] * (count // 2))]
    with Client.from_url(redis_url) as client:
        infos = client.enqueue_many([Task("work", work, queue="critical")] * (count // 2))
        ids += [info.id for info in infos]  # type: ignore[union-attr]
    conn = redis.Redis.from_url(redis_url)
    config = {
        "concurrency": 5,
        "queues": {"default": 1, "critical": 1},
        "retry_delay": 0,
        "delayed_task_check_interval": 1,
        "record_list": "done",
        "started_list": "started",
    }
    servers = {kind: start(go, kind, **config) for kind in SERVERS}

    def held_by_victim() -> set[str]:
        started = {e["id"] for e in events(conn, "started") if e["server"] == victim}
        return started - {e["id"] for e in events(conn, "done") if e["server"] == victim}

    # On a loaded machine one server may start seconds after the other: kill the victim only
    # once it is working, so there is something of its own to recover.
    wait_until(
        lambda: conn.llen("done") >= count // 4 and bool(held_by_victim()),
        "a quarter of the tasks done and the victim holding a task",
        timeout=60,
    )
    servers[victim].kill()
    killed_at = time.time()
    orphans = held_by_victim()
    assert orphans, "the victim held no task when killed"
    wait_until(lambda: set(ok_ids(conn)) == set(ids), "every task to complete", timeout=200)
    survivor = next(kind for kind in SERVERS if kind != victim)
    recovered = [e for e in events(conn, "started") if e["id"] in orphans]
    recovered = [e for e in recovered if e["server"] == survivor]
    assert {e["id"] for e in recovered} == orphans
    assert all(e["retried"] == 1 for e in recovered)
    delays = [e["time"] - killed_at for e in recovered]
    assert min(delays) >= 54, delays  # lease (>= 25 s left) + 30 s recoverer cutoff
    assert max(delays) <= 150, delays
    duplicates = len(ok_ids(conn)) - len(set(ok_ids(conn)))
    assert duplicates <= len(orphans)  # at-least-once only for tasks in flight at the kill
    servers[survivor].terminate()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("producer", "consumer"), [("go", "py"), ("py", "go")])
def test_each_task_processed_once_on_cluster(
    go_cluster: GoAsynq, redis_cluster: RedisCluster, producer: str, consumer: str
) -> None:
    """Issue 4 items 1-2 on Redis Cluster: the other side's tasks in two queues (two hash
    slots), each processed exactly once, results kept where retention is set."""
    count = 300
    batch = [mixed_task(i) for i in range(count)]
    nodes = redis_cluster.startup_nodes
    ids = enqueue_batch(go_cluster, producer, lambda: Client.from_cluster(nodes), batch)
    conn = redis.cluster.RedisCluster(host=nodes[0][0], port=nodes[0][1])
    drain(go_cluster, consumer, conn, count, timeout=90)
    assert sorted(ok_ids(conn)) == sorted(ids)
    with Inspector.from_cluster(nodes) as inspector:
        for queue, share in (("default", 3 * count // 4), ("critical", count // 4)):
            go_info = go_cluster.inspect("queue-info", queue)
            assert go_info["processed"] == inspector.get_queue_info(queue).processed == share
        completed = inspector.list_completed_tasks("default", page_size=count)
    assert {info.result for info in completed} == {RESULT}
    conn.close()


@pytest.mark.timeout(60)
def test_go_cancels_our_running_task_on_cluster(
    go_cluster: GoAsynq, redis_cluster: RedisCluster
) -> None:
    """Issue 4 item 5 on Redis Cluster: our subscriber hears Go's CancelProcessing at once."""
    nodes = redis_cluster.startup_nodes
    conn = redis.cluster.RedisCluster(host=nodes[0][0], port=nodes[0][1])
    server = go_cluster.start_py_server(
        record_list="done", started_list="started", retry_delay=600, log_level="error"
    )
    info = go_cluster.enqueue("slow", behaviour(sleep_ms=60_000))
    wait_until(lambda: conn.llen("started") == 1, "the handler to start")
    time.sleep(0.5)
    go_cluster.inspect("cancel", info["id"])
    wait_until(lambda: conn.llen("done") == 1, "the handler to see the cancellation", 10)
    assert events(conn, "done")[0]["outcome"] == "canceled"
    server.terminate()
    conn.close()
