"""Checklist C, D and E items beyond issue 4's list: each scenario runs once with a Go server
and once with a kasynq server, on tasks the *other* side enqueued or left behind.
"""

from __future__ import annotations

import time

import pytest
import redis
from kasynq.inspector import Inspector

from devenv.goasynq import GoAsynq, b64decode, task_spec
from devenv.processes import wait_until
from tests.interop.servers import SERVERS, behaviour, enqueue_by, events, ok_ids, other, start

pytestmark = pytest.mark.requires_go


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_fifo_across_producers(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C37: one worker dequeues in enqueue order whichever language enqueued."""
    ids = [
        enqueue_by(go, redis_url, ("go", "py")[i % 2], "fifo", behaviour(n=i)) for i in range(20)
    ]
    conn = redis.Redis.from_url(redis_url)
    server = start(go, server_kind, concurrency=1, record_list="done")
    wait_until(lambda: conn.llen("done") == 20, "20 tasks done")
    server.terminate()
    assert ok_ids(conn) == ids


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_pause_by_the_other_side_is_honoured(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C35: a queue paused by the other side's Inspector is not served; unpause resumes."""
    if server_kind == "py":
        go.inspect("pause", "held")
    with Inspector.from_url(redis_url) as inspector:
        if server_kind == "go":
            inspector.pause_queue("held")
        conn = redis.Redis.from_url(redis_url)
        held = enqueue_by(go, redis_url, other(server_kind), "t", b"held", queue="held")
        free = enqueue_by(go, redis_url, other(server_kind), "t", b"free", queue="free")
        server = start(go, server_kind, queues={"held": 1, "free": 1}, record_list="done")
        wait_until(lambda: ok_ids(conn) == [free], "the unpaused queue served")
        time.sleep(2.5)  # more than two idle polls (Go sleeps 1 s when queues are empty)
        assert ok_ids(conn) == [free]
        if server_kind == "py":
            go.inspect("unpause", "held")
        else:
            inspector.unpause_queue("held")
    wait_until(lambda: ok_ids(conn) == [free, held], "the held queue served after unpause")
    server.terminate()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("first", SERVERS)
def test_shutdown_pushes_back_and_the_other_side_finishes(
    go: GoAsynq, redis_url: str, first: str
) -> None:
    """C41: past the shutdown timeout a running task is pushed back to pending with retried
    unchanged and no counter change; the other implementation then completes it."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(go, redis_url, other(first), "long", behaviour(sleep_ms=4000))
    server = start(go, first, shutdown_timeout=1, started_list="started", record_list="done")
    wait_until(lambda: conn.llen("started") == 1, "the long task to start")
    server.terminate()
    info = go.inspect("task-info", "default", task_id)
    assert (info["state"], info["retried"], info["last_err"]) == ("pending", 0, "")
    counters = go.inspect("queue-info", "default")
    assert (counters["processed"], counters["failed"]) == (0, 0)
    with Inspector.from_url(redis_url) as inspector:  # G57: a requeued tail has no latency
        assert (
            counters["latency"] == inspector.get_queue_info("default").latency.total_seconds() == 0
        )
    assert conn.hget(f"asynq:{{default}}:t:{task_id}", "pending_since") is None
    successor = start(go, other(first), record_list="done")
    wait_until(lambda: ok_ids(conn) == [task_id], "the other side to complete it", 20)
    successor.terminate()
    assert events(conn, "done")[-1]["server"] == other(first)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_the_other_sides_janitor_deletes_expired_completed_tasks(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """C24: a task completed with retention by one server is kept as completed, then deleted
    by the other implementation's janitor once the retention has passed."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(go, redis_url, other(server_kind), "kept", b"", retention=2)
    server = start(go, server_kind, record_list="done")
    wait_until(lambda: ok_ids(conn) == [task_id], "the task to complete")
    wait_until(lambda: conn.zcard("asynq:{default}:completed") == 1, "the completion written")
    server.kill()  # its own janitor must not be the one that deletes
    info = go.inspect("task-info", "default", task_id)
    assert info["state"] == "completed" and info["completed_at"] is not None
    score = conn.zscore("asynq:{default}:completed", task_id)
    assert score is not None and abs(score - (info["completed_at"] + 2)) <= 1
    janitor = start(go, other(server_kind), janitor_interval=1, queues={"default": 1})
    wait_until(lambda: conn.zcard("asynq:{default}:completed") == 0, "the janitor", 20)
    assert not conn.exists(f"asynq:{{default}}:t:{task_id}")
    janitor.terminate()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_group_tasks_from_the_other_side_are_aggregated(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """E48: group tasks enqueued by the other side are aggregated after the grace period
    into one task in the same queue; members, set and group entry are gone afterwards."""
    conn = redis.Redis.from_url(redis_url)
    members = [
        enqueue_by(go, redis_url, other(server_kind), "part", f"p{i}".encode(), group="g")
        for i in range(3)
    ]
    server = start(go, server_kind, aggregate=True, group_grace_period=1, record_list="done")
    wait_until(lambda: conn.llen("done") == 1, "one aggregated task processed", 30)
    (event,) = events(conn, "done")
    assert event["type"] == "aggregated" and event["outcome"] == "ok"
    parts = b64decode(event["payload"]).split(b"\n")
    assert sorted(parts) == [b"p0", b"p1", b"p2"]
    server.terminate()
    assert go.inspect("groups", "default") == []
    assert not any(conn.exists(f"asynq:{{default}}:t:{m}") for m in members)
    assert conn.keys("asynq:{default}:g:*") == []


@pytest.mark.timeout(60)
def test_killed_python_server_leaves_go_servers_list_in_time(go: GoAsynq, redis_url: str) -> None:
    """D45: our server info expires within ~10 s of kill -9, so Go stops listing it."""
    server = go.start_py_server()
    wait_until(lambda: len(go.inspect("servers")) == 1, "our server listed")
    server.kill()
    killed = time.monotonic()
    wait_until(lambda: go.inspect("servers") == [], "our server gone", 15)
    assert time.monotonic() - killed <= 12


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_default_retry_delay_and_revoke_release_the_same(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """C26: with the default delay formula the first retry is due 15-44 s after the failure;
    C30: RevokeTask deletes the task, counts it processed only and releases its lock."""
    conn = redis.Redis.from_url(redis_url)
    failing = enqueue_by(go, redis_url, other(server_kind), "fails", behaviour(fail_times=-1))
    revoked = enqueue_by(
        go, redis_url, other(server_kind), "revokes", behaviour(revoke=True), unique=600
    )
    server = start(go, server_kind, record_list="done")
    wait_until(lambda: conn.llen("done") == 2, "both handlers to return")
    server.terminate()
    info = go.inspect("task-info", "default", failing)
    assert (info["state"], info["retried"], info["last_err"]) == ("retry", 1, "planned failure")
    delay = info["next_process_at"] - info["last_failed_at"]
    assert 15 - 1 <= delay <= 15 + 29 + 1  # n^4 + 15 + rand[0, 30) * (n + 1), n = 0
    assert conn.keys("asynq:{default}:unique:*") == []
    assert not conn.exists(f"asynq:{{default}}:t:{revoked}")
    counters = go.inspect("queue-info", "default")
    assert (counters["processed"], counters["failed"]) == (2, 1)


ARCHIVE_LIMIT = 10_000


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_archive_trimming_matches_go(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C32: archiving into a full archive keeps the newest 9,999 entries, and drops entries
    older than 90 days; the dropped tasks' hashes go with them."""
    conn = redis.Redis.from_url(redis_url)
    now = int(time.time())
    seeded = [f"seeded-{i:05d}" for i in range(ARCHIVE_LIMIT - 1)]
    with conn.pipeline(transaction=False) as pipe:
        for offset, task_id in enumerate(seeded):
            pipe.zadd("asynq:{default}:archived", {task_id: now - ARCHIVE_LIMIT + offset})
            pipe.hset(f"asynq:{{default}}:t:{task_id}", mapping={"state": "archived"})
        pipe.zadd("asynq:{default}:archived", {"ancient": now - 100 * 86_400})
        pipe.hset("asynq:{default}:t:ancient", mapping={"state": "archived"})
        pipe.sadd("asynq:queues", "default")
        pipe.execute()
    fatal = enqueue_by(
        go, redis_url, other(server_kind), "fatal", behaviour(skip_retry=True, error="x")
    )
    server = start(go, server_kind, record_list="done")
    wait_until(lambda: conn.llen("done") == 1, "the task to fail")
    server.terminate()
    archived = [m.decode() for m in conn.zrange("asynq:{default}:archived", 0, -1)]
    assert len(archived) == ARCHIVE_LIMIT - 1
    assert archived[-1] == fatal
    assert archived[0] == seeded[1]  # the oldest seeded entry was trimmed
    assert not conn.exists("asynq:{default}:t:ancient", f"asynq:{{default}}:t:{seeded[0]}")
    assert conn.exists(f"asynq:{{default}}:t:{seeded[1]}")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_group_max_size_aggregates_the_oldest_first(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """E49: with GroupMaxSize 2 and three tasks, the two oldest are aggregated at the next
    check (long before the grace period) and the group stays listed with the newest."""
    conn = redis.Redis.from_url(redis_url)
    members = []
    for i in range(3):
        members.append(
            enqueue_by(go, redis_url, other(server_kind), "part", f"p{i}".encode(), group="g")
        )
        time.sleep(1.1)  # distinct enqueue seconds: the group zset is ordered by them
    server = start(
        go,
        server_kind,
        aggregate=True,
        group_grace_period=30,
        group_max_size=2,
        record_list="done",
    )
    wait_until(lambda: conn.llen("done") == 1, "the first aggregated task", 20)
    (event,) = events(conn, "done")
    assert sorted(b64decode(event["payload"]).split(b"\n")) == [b"p0", b"p1"]
    assert go.inspect("groups", "default") == [{"group": "g", "size": 1}]
    assert [t["id"] for t in go.inspect("list", "default", "aggregating", group="g")] == [
        members[2]
    ]
    server.terminate()


@pytest.mark.timeout(120)
def test_leases_are_extended_by_both_servers(go: GoAsynq, redis_url: str) -> None:
    """C39: while a task runs longer than the 30 s lease, its lease score never falls below
    now, on a Go and on a kasynq server side by side; neither task is recovered or rerun."""
    conn = redis.Redis.from_url(redis_url)
    long_task = behaviour(sleep_ms=36_000)
    ids = [enqueue_by(go, redis_url, maker, "long", long_task) for maker in SERVERS]
    servers = [
        start(go, kind, concurrency=1, record_list="done", started_list="started")
        for kind in SERVERS
    ]
    wait_until(lambda: conn.llen("started") == 2, "both servers to take one task")
    assert {e["server"] for e in events(conn, "started")} == set(SERVERS)
    while conn.llen("done") < 2:
        leases = dict(conn.zrange("asynq:{default}:lease", 0, -1, withscores=True))
        now = time.time()
        for task_id, expiry in leases.items():
            assert expiry >= now, f"lease of {task_id.decode()} expired while it ran"
        time.sleep(1)
    assert sorted(ok_ids(conn)) == sorted(ids)
    assert conn.llen("started") == 2
    for server in servers:
        server.terminate()


UNKNOWN_FIELD = bytes([0x98, 0x06, 0x01]) + bytes([0xA2, 0x06, 0x03]) + b"new"
"""Field 99 (varint 1) and field 100 (bytes "new"): what a future asynq might add."""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_unknown_message_fields_break_no_reader(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """A5: a message carrying fields this version does not know is read by both Inspectors
    and processed by either server like any other."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(go, redis_url, other(server_kind), "future", b"payload")
    key = f"asynq:{{default}}:t:{task_id}"
    conn.hset(key, "msg", conn.hget(key, "msg") + UNKNOWN_FIELD)
    go_info = go.inspect("task-info", "default", task_id)
    with Inspector.from_url(redis_url) as inspector:
        ours = inspector.get_task_info("default", task_id)
    assert (ours.type, ours.payload) == (go_info["type"], b64decode(go_info["payload"]))
    server = start(go, server_kind, record_list="done")
    wait_until(lambda: ok_ids(conn) == [task_id], "the task to be processed")
    server.terminate()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_not_a_failure_retries_without_counting(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """C27: an error IsFailure rejects still moves the task to retry, with retried and the
    processed/failed counters unchanged."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(
        go, redis_url, other(server_kind), "busy", behaviour(fail_times=-1, error="transient")
    )
    server = start(go, server_kind, not_failure="transient", retry_delay=600, record_list="done")
    wait_until(lambda: conn.llen("done") == 1, "the handler to fail")
    wait_until(lambda: go.inspect("queue-info", "default")["retry"] == 1, "the task in retry")
    server.terminate()
    info = go.inspect("task-info", "default", task_id)
    assert (info["state"], info["retried"], info["last_err"]) == ("retry", 0, "transient")
    counters = go.inspect("queue-info", "default")
    assert (counters["processed"], counters["failed"]) == (0, 0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_missing_handler_fails_like_go(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C43: a type no ServeMux pattern matches fails with Go's text, then is archived; the
    longest matching prefix still serves the others."""
    conn = redis.Redis.from_url(redis_url)
    served = enqueue_by(go, redis_url, other(server_kind), "email:send", b"")
    orphan = enqueue_by(go, redis_url, other(server_kind), "sms:send", b"", max_retry=0)
    server = start(go, server_kind, mux_prefixes=["email:", "email:send:x"], record_list="done")
    wait_until(lambda: go.inspect("queue-info", "default")["archived"] == 1, "the orphan archived")
    server.terminate()
    assert ok_ids(conn) == [served]
    info = go.inspect("task-info", "default", orphan)
    assert info["last_err"] == 'handler not found for task "sms:send"'


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_group_max_delay_flushes_a_fed_group(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """E50: a group fed faster than its grace period is still flushed once its oldest task
    is GroupMaxDelay old, while the feeding goes on."""
    conn = redis.Redis.from_url(redis_url)
    server = start(
        go,
        server_kind,
        aggregate=True,
        group_grace_period=2,
        group_max_delay=4,
        record_list="done",
    )
    started = time.monotonic()
    fed = 0
    while time.monotonic() - started < 10:
        enqueue_by(go, redis_url, other(server_kind), "part", f"p{fed}".encode(), group="g")
        fed += 1
        time.sleep(1)
    first_flush = events(conn, "done")
    server.terminate()
    assert first_flush, "nothing was aggregated while the group was fed every second"
    assert b"p0" in b64decode(first_flush[0]["payload"]).split(b"\n")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_dequeue_leaves_the_same_traces(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C38: a running task has state active, no pending_since, its ID in `active` and a
    lease about 30 s ahead, whichever server dequeued it."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(go, redis_url, other(server_kind), "slow", behaviour(sleep_ms=5000))
    server = start(go, server_kind, started_list="started", shutdown_timeout=1)
    wait_until(lambda: conn.llen("started") == 1, "the task to start")
    fields = conn.hgetall(f"asynq:{{default}}:t:{task_id}")
    assert fields[b"state"] == b"active" and b"pending_since" not in fields
    assert conn.lrange("asynq:{default}:active", 0, -1) == [task_id.encode()]
    lease = conn.zscore("asynq:{default}:lease", task_id)
    assert lease is not None and 25 <= lease - time.time() <= 31
    server.terminate()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_strict_priority_drains_queues_in_order(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """C36 (strict mode): with queues a > b > c all full, a drains before b before c."""
    conn = redis.Redis.from_url(redis_url)
    expected = {}
    for queue in ("c", "b", "a"):
        expected[queue] = [
            enqueue_by(go, redis_url, ("go", "py")[i % 2], "t", behaviour(i=i), queue=queue)
            for i in range(4)
        ]
    server = start(
        go,
        server_kind,
        concurrency=1,
        strict=True,
        queues={"a": 3, "b": 2, "c": 1},
        record_list="done",
    )
    wait_until(lambda: conn.llen("done") == 12, "all twelve tasks")
    server.terminate()
    assert ok_ids(conn) == expected["a"] + expected["b"] + expected["c"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_scheduled_group_task_is_forwarded_to_pending(
    go: GoAsynq, redis_url: str, server_kind: str
) -> None:
    """B21: Group + ProcessIn is stored scheduled without a group; when due the forwarder
    moves it to pending (not into the group), so it runs alone even with an aggregator."""
    conn = redis.Redis.from_url(redis_url)
    task_id = enqueue_by(
        go, redis_url, other(server_kind), "part", b"alone", group="g", process_in=1
    )
    server = start(
        go,
        server_kind,
        aggregate=True,
        group_grace_period=1,
        delayed_task_check_interval=1,
        record_list="done",
    )
    wait_until(lambda: conn.llen("done") == 1, "the task to run")
    server.terminate()
    (event,) = events(conn, "done")
    assert (event["id"], event["type"]) == (task_id, "part")
    assert go.inspect("groups", "default") == []


@pytest.mark.timeout(90)
@pytest.mark.parametrize("server_kind", SERVERS)
def test_weighted_priority_shares(go: GoAsynq, redis_url: str, server_kind: str) -> None:
    """C36 (weighted): with queues a:6, b:3, c:1 all full, the first 200 dequeues split
    about 60/30/10 (Go draws each dequeue's queue order at random by weight)."""
    conn = redis.Redis.from_url(redis_url)
    per_queue = 200
    for queue in ("a", "b", "c"):
        specs = [task_spec("t", b"", queue=queue)] * per_queue
        assert all("task" in r for r in go.enqueue_many(specs))
    server = start(
        go, server_kind, concurrency=1, queues={"a": 6, "b": 3, "c": 1}, record_list="done"
    )
    wait_until(lambda: conn.llen("done") >= 200, "200 tasks done")
    server.terminate()
    first = [e["queue"] for e in events(conn, "done")[:200]]
    shares = {queue: first.count(queue) / len(first) for queue in ("a", "b", "c")}
    assert abs(shares["a"] - 0.6) < 0.15 and abs(shares["b"] - 0.3) < 0.13, shares
    assert 0.0 < shares["c"] < 0.22, shares
