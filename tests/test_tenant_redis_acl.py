"""Per-tenant Redis ACL users on a real Redis 7: a hostile tenant reaches none of another
tenant's keys, while Go asynq and kasynq workers with the tenant's own credentials still
enqueue and process its tasks."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from kasynq import keys
from kasynq.client import Client
from kasynq.connection import redis_from_url
from kasynq.task import Task
from kasynq_operator.redis_acl import (
    ensure_tenant_user,
    new_password,
    remove_tenant_user,
    tenant_url,
    tenant_user,
)

from devenv.goasynq import GoAsynq
from devenv.processes import wait_until
from devenv.redis_servers import RedisServer
from tests.fixtures.redis import lock_down
from tests.test_server_process import spawn_worker, worker_processes  # noqa: F401

TASKS = 20


ADMIN_PASSWORD = "admin-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Tenants:
    """A Redis whose default user needs an unknown password (as a shared Redis would: no
    anonymous access), an admin user for the operator, and one user per tenant."""

    server: RedisServer
    urls: dict[str, str]

    @property
    def admin_url(self) -> str:
        return tenant_url(self.server.url, "admin", ADMIN_PASSWORD)

    def conn(self, namespace: str) -> redis.Redis:
        return redis.Redis.from_url(self.urls[namespace], socket_timeout=5)

    def admin(self) -> redis.Redis:
        return redis.Redis.from_url(self.admin_url, socket_timeout=5)

    def admin_call(self, step: Callable[[Any], Any]) -> Any:
        async def run() -> Any:
            admin = redis_from_url(self.admin_url)
            try:
                return await step(admin)
            finally:
                await admin.aclose()

        return asyncio.run(run())


@pytest.fixture
def tenants(redis_factory: type[RedisServer]) -> Iterator[Tenants]:
    """A fresh Redis with users for team-a and team-b, made as the operator makes them."""
    server = redis_factory().start()
    lock_down(server, ADMIN_PASSWORD)
    setup = Tenants(server, {})
    for namespace in ("team-a", "team-b"):
        password = new_password()
        user = setup.admin_call(
            lambda admin, ns=namespace, pw=password: ensure_tenant_user(admin, ns, pw)
        )
        setup.urls[namespace] = tenant_url(server.url, user, password)
    yield setup


def team_b_keys() -> list[str]:
    """Every key of team-b's queue `team-b:work` and scheduler group in the wire protocol
    (docs/wire-protocol.md §2), built by the same functions the broker uses."""
    queue, task_id, group = "team-b:work", str(uuid.uuid4()), "g"
    today = datetime.now(UTC).date()
    return [
        keys.task_key(queue, task_id),
        keys.pending_key(queue),
        keys.active_key(queue),
        keys.scheduled_key(queue),
        keys.retry_key(queue),
        keys.archived_key(queue),
        keys.lease_key(queue),
        keys.completed_key(queue),
        keys.paused_key(queue),
        keys.processed_total_key(queue),
        keys.failed_total_key(queue),
        keys.processed_key(queue, today),
        keys.failed_key(queue, today),
        keys.unique_key(queue, "email", b"{}"),
        keys.group_key(queue, group),
        keys.aggregation_set_key(queue, group, str(uuid.uuid4())),
        keys.all_groups(queue),
        keys.all_aggregation_sets(queue),
        keys.scheduler_leader_key("team-b/pool"),
        keys.scheduler_token_key("team-b/pool"),
        keys.scheduler_ticks_key(queue, "team-b/pool"),
    ]


READS: list[tuple[str, ...]] = [
    ("GET",),
    ("HGETALL",),
    ("HGET", "msg"),
    ("LRANGE", "0", "-1"),
    ("ZRANGE", "0", "-1"),
    ("SMEMBERS",),
    ("TYPE",),
    ("EXISTS",),
    ("TTL",),
    ("DUMP",),
    ("STRLEN",),
    ("GETRANGE", "0", "-1"),
]
WRITES: list[tuple[str, ...]] = [
    ("SET", "x"),
    ("DEL",),
    ("HSET", "state", "pending"),
    ("LPUSH", "x"),
    ("RPOPLPUSH", "LOOT"),
    ("ZADD", "1", "x"),
    ("SADD", "x"),
    ("INCR",),
    ("EXPIRE", "60"),
    ("PERSIST",),
    ("RENAME", "LOOT"),
    ("COPY", "LOOT"),
]
SCRIPTS = [
    "return redis.call('TYPE', KEYS[1])",
    "return redis.call('DEL', KEYS[1])",
    "return redis.call('TYPE', ARGV[1])",  # a key not declared: still checked
]


def attempts(key: str) -> list[tuple[Any, ...]]:
    """Every command of the lists above on `key`; LOOT is a key of the attacker's own."""
    loot = f"asynq:{{team-a:loot}}:{uuid.uuid4().hex}"
    commands: list[tuple[Any, ...]] = [
        (name, key, *(loot if arg == "LOOT" else arg for arg in rest))
        for name, *rest in READS + WRITES
    ]
    commands += [("EVAL", script, "1", key, key) for script in SCRIPTS]
    return commands


def test_hostile_tenant_reaches_none_of_another_tenants_keys(tenants: Tenants) -> None:
    theirs = team_b_keys()
    with tenants.admin() as admin:  # team-b's data
        for key in theirs:
            admin.set(key, "secret")
    successes: list[str] = []
    refused = 0
    with tenants.conn("team-a") as hostile:
        for key in theirs:
            for command in attempts(key):
                try:
                    hostile.execute_command(*command)
                except redis.exceptions.NoPermissionError:
                    refused += 1
                    continue
                except redis.exceptions.ResponseError as exc:  # Lua wraps the ACL error
                    if "NOPERM" in str(exc) or "No permissions" in str(exc):
                        refused += 1
                        continue
                    raise
                successes.append(" ".join(map(str, command[:2])))
        for command in (("KEYS", "*"), ("SCAN", "0"), ("RANDOMKEY",), ("FLUSHALL",),
                        ("INFO",), ("CONFIG", "GET", "*"), ("ACL", "LIST"),
                        ("PUBSUB", "CHANNELS")):  # fmt: skip
            with pytest.raises(redis.exceptions.NoPermissionError):
                hostile.execute_command(*command)
        # Per-process keys are named by host, not namespace: written, never read.
        worker_key = keys.workers_key("team-b-pod", 1, str(uuid.uuid4()))
        with pytest.raises(redis.exceptions.NoPermissionError):
            hostile.hgetall(worker_key)
    assert refused == len(theirs) * (len(READS) + len(WRITES) + len(SCRIPTS))
    assert successes == []
    with tenants.admin() as admin:
        for key in theirs:
            assert admin.exists(key), f"{key} was changed by the hostile tenant"


def processed(tenants: Tenants, queue: str) -> int:
    with tenants.admin() as admin:
        return int(admin.get(keys.processed_total_key(queue)) or 0)


def test_go_and_kasynq_workers_process_their_own_tasks_with_the_tenant_user(
    tenants: Tenants,
    go_asynq: Path,
    worker_processes: list[subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    queue = "team-a:work"
    url = tenants.urls["team-a"]
    with Client.from_url(url) as client:
        for _ in range(TASKS):
            client.enqueue(Task("hold", b"0"), queue=queue)
    with GoAsynq.standalone(go_asynq, url) as go:
        for _ in range(TASKS):
            go.enqueue("go-task", b"{}", queue=queue)
        go.start_server(queues={queue: 1}, concurrency=4)
        wait_until(lambda: processed(tenants, queue) >= TASKS, "Go processed tasks", 30)
    spawn_worker(
        worker_processes, url, "--handlers", "tests.server_app:mux", "--queues", f"{queue}=1"
    )
    with tenants.admin() as admin:
        wait_until(
            lambda: (
                admin.llen(keys.pending_key(queue)) == 0
                and processed(tenants, queue) == 2 * TASKS
                and int(admin.get(keys.failed_total_key(queue)) or 0) == 0
            ),
            "all tenant tasks processed by Go and kasynq workers",
            60,
        )
        # The kasynq worker's busy count (read by the operator before a scale-in) is its to
        # write: a task holding a slot shows up there.
        with Client.from_url(url) as client:
            client.enqueue(Task("hold", b"5"), queue=queue)
        wait_until(
            lambda: any(admin.get(key) == b"1" for key in admin.keys(keys.busy_key("*", "*", "*"))),
            "the tenant worker's busy count",
            10,
        )


def test_worker_pointed_at_another_tenants_queue_gets_nothing(
    tenants: Tenants,
    worker_processes: list[subprocess.Popen[bytes]],  # noqa: F811
) -> None:
    theirs = "team-b:work"
    with Client.from_url(tenants.urls["team-b"]) as client:
        for _ in range(5):
            client.enqueue(Task("hold", b"0"), queue=theirs)
    process = spawn_worker(
        worker_processes,
        tenants.urls["team-a"],
        "--handlers",
        "tests.server_app:mux",
        "--queues",
        f"{theirs}=1",
    )
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    with tenants.admin() as admin:
        assert admin.llen(keys.pending_key(theirs)) == 5
        assert processed(tenants, theirs) == 0


def test_the_user_goes_with_the_last_queue(tenants: Tenants) -> None:
    assert tenants.admin_call(lambda admin: remove_tenant_user(admin, "team-a"))
    with pytest.raises(redis.exceptions.AuthenticationError), tenants.conn("team-a") as gone:
        gone.ping()
    users = tenants.admin_call(lambda admin: admin.execute_command("ACL", "USERS"))
    assert tenant_user("team-a").encode() not in users
