"""Dependencies with Go asynq v0.26.0 in the pool (wire-protocol.md §13), on standalone Redis
and on Redis Cluster: whoever runs each step, a dependant runs once and only after its
dependencies completed; a dependency Go archives archives its dependants; Go's Inspector reads
queues holding waiting tasks."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from kasynq import keys
from kasynq.task import Task
from kasynq.workflow import chain

from devenv.processes import wait_until
from tests.interop.conftest import Target
from tests.interop.servers import behaviour, events, start
from tests.test_dependencies_kill import Chains

pytestmark = pytest.mark.requires_go

QUEUES = {"wa": 1, "wb": 1, "wc": 1}
"""Three queues: on Cluster their hash tags sit in different slots, so edges cross slots."""
FAST = {"task_check_interval": 0.1, "delayed_task_check_interval": 0.5}


def _by_id(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        grouped.setdefault(record["id"], []).append(record)
    return grouped


@pytest.mark.timeout(90)
def test_diamonds_run_each_task_once_in_order_on_go_and_kasynq_workers(target: Target) -> None:
    slow = behaviour(sleep_ms=30)
    diamonds = []
    for _ in range(8):
        top = target.client.enqueue(Task("top", slow), queue="wa")
        left = target.client.enqueue(Task("left", slow), queue="wb", depends_on=[top])
        right = target.client.enqueue(Task("right", slow), queue="wc", depends_on=[top])
        bottom = target.client.enqueue(Task("bottom", slow), queue="wa", depends_on=[left, right])
        diamonds.append((top.id, left.id, right.id, bottom.id))
    lists = {"record_list": "done", "started_list": "started"}
    start(target.go, "go", concurrency=2, queues=QUEUES, **FAST, **lists)
    start(target.go, "py", concurrency=2, queues=QUEUES, dependency_check_interval=0.1, **lists)
    wait_until(lambda: target.redis.llen("done") >= 32, "every task of 8 diamonds ran", 60)
    done = _by_id(events(target.redis, "done"))
    started = _by_id(events(target.redis, "started"))
    assert sorted(done) == sorted(task_id for diamond in diamonds for task_id in diamond)
    assert all(len(runs) == 1 and runs[0]["outcome"] == "ok" for runs in done.values())
    for top, left, right, bottom in diamonds:
        for before, after in ((top, left), (top, right), (left, bottom), (right, bottom)):
            assert done[before][0]["time"] <= started[after][0]["time"]
    # both sides ran dependencies: Go's completions were noticed by kasynq's releaser
    dependencies = [record for d in diamonds for record in done[d[0]] + done[d[1]] + done[d[2]]]
    assert {record["server"] for record in dependencies} == {"go", "py"}


@pytest.mark.timeout(60)
def test_a_dependency_go_archives_archives_its_dependants_and_go_reads_them(
    target: Target,
) -> None:
    failing = target.go.enqueue("doomed", behaviour(fail_times=-1), queue="wa", max_retry=0)
    dependency = target.inspector.get_task_info("wa", failing["id"])
    first = target.client.enqueue(Task("next"), queue="wb", depends_on=[dependency])
    second = target.client.enqueue(Task("last"), queue="wc", depends_on=[first])
    # Go's Inspector reads every queue holding waiting tasks and their dependencies
    for queue in QUEUES:
        assert target.go.inspect("queue-info", queue)["queue"] == queue
    listed = target.go.inspect("list", "wb", "scheduled")
    assert [task["id"] for task in listed] == [first.id]
    info = target.go.inspect("task-info", "wc", second.id)
    assert info["state"] == "scheduled"
    assert info["next_process_at"] == 7258118400
    assert target.go.inspect("task-info", "wa", failing["id"])["retention"] == 3600
    go_server = start(target.go, "go", queues=QUEUES, **FAST, record_list="done")
    wait_until(
        lambda: target.go.inspect("task-info", "wa", failing["id"])["state"] == "archived",
        "Go archived the failing dependency",
    )
    go_server.terminate()
    # a Go pool alone never runs the waiting tasks: its forwarder does not reach 2200
    assert target.go.inspect("task-info", "wb", first.id)["state"] == "scheduled"
    start(target.go, "py", queues={"wa": 1}, dependency_check_interval=0.1)
    for queue, task_id, dependency, dependency_queue in (
        ("wb", first.id, failing["id"], "wa"),
        ("wc", second.id, first.id, "wb"),
    ):
        wait_until(
            lambda q=queue, t=task_id: target.go.inspect("task-info", q, t)["state"] == "archived",
            f"dependant {task_id} archived",
        )
        info = target.go.inspect("task-info", queue, task_id)
        assert (
            info["last_err"] == f"dependency {dependency} in queue {dependency_queue} was archived"
        )
        assert info["last_failed_at"] is not None
    assert [event["id"] for event in events(target.redis, "done")] == [failing["id"]]


def _successes(target: Target) -> int:
    """Successful runs on `default`: processed minus failed (a recovered kill is a failure);
    both counters carry the queue's hash tag, so one MGET reads them on Cluster too."""
    counters = target.redis.mget(
        [keys.processed_total_key("default"), keys.failed_total_key("default")]
    )
    processed, failed = (int(value or 0) for value in counters)
    return processed - failed


@pytest.mark.timeout(120)
def test_chains_complete_exactly_once_under_kill_9_of_go_and_kasynq_workers(
    target: Target,
) -> None:
    chains, steps = 1000, 5
    infos = target.client.enqueue_workflow(
        Chains([chain(*(Task("step") for _ in range(steps))) for _ in range(chains)])
    )
    total = chains * steps
    lists = {"record_list": "done", "started_list": "started"}
    for goal in (total // 4, total // 2):
        pool = [
            start(target.go, "go", concurrency=10, **FAST, **lists),
            start(target.go, "py", concurrency=10, dependency_check_interval=0.1, **lists),
        ]
        wait_until(lambda g=goal: _successes(target) >= g, f"{goal} steps done", 60)
        for server in pool:
            server.kill()
        # the killed servers' leases (30 s) run out: moved into the past
        lease = keys.lease_key("default")
        expired = {member: time.time() - 1 for member in target.redis.zrange(lease, 0, -1)}
        if expired:
            target.redis.zadd(lease, expired, xx=True)
    start(target.go, "go", concurrency=10, **FAST, **lists)
    start(target.go, "py", concurrency=10, dependency_check_interval=0.1,
          recoverer_interval=0.2, recoverer_grace=0.01, retry_delay=0, **lists)  # fmt: skip
    wait_until(lambda: _successes(target) >= total, "every step done", 60)
    time.sleep(0.3)  # a step run twice would show now
    assert _successes(target) == total
    done = _by_id(events(target.redis, "done"))
    started = _by_id(events(target.redis, "started"))
    assert {record["server"] for records in done.values() for record in records} == {"go", "py"}
    for index in range(0, total, steps):
        for before, after in itertools.pairwise(infos[index : index + steps]):
            last_success = max(r["time"] for r in done[before.id] if r["outcome"] == "ok")
            assert last_success <= min(r["time"] for r in started[after.id])
