"""Helpers for tests that run a Go or a kasynq server on the same scenario."""

from __future__ import annotations

import json
from typing import Any

import redis
from kasynq.client import Client
from kasynq.task import Task

from devenv.goasynq import GoAsynq, JsonProcess

SERVERS = ("go", "py")


def other(kind: str) -> str:
    """The other implementation: "py" for "go" and the reverse."""
    return "py" if kind == "go" else "go"


def start(go: GoAsynq, kind: str, **config: Any) -> JsonProcess:
    """A Go or a Python server with one config (see cmd/goasynq/server.go)."""
    config.setdefault("log_level", "error")
    return go.start_server(**config) if kind == "go" else go.start_py_server(**config)


def enqueue_by(
    go: GoAsynq, redis_url: str, maker: str, task_type: str, payload: bytes, **options: Any
) -> str:
    """Enqueue with Go's client ("go") or ours ("py"); returns the task ID."""
    if maker == "go":
        return str(go.enqueue(task_type, payload, **options)["id"])
    with Client.from_url(redis_url) as client:
        return client.enqueue(Task(task_type, payload), **options).id


def events(conn: redis.Redis, key: str) -> list[dict[str, Any]]:
    """The handler calls recorded in list `key`, oldest first."""
    return [json.loads(raw) for raw in conn.lrange(key, 0, -1)]


def ok_ids(conn: redis.Redis, key: str = "done") -> list[str]:
    """IDs of the tasks whose handler succeeded, one entry per success."""
    return [e["id"] for e in events(conn, key) if e["outcome"] == "ok"]


def behaviour(**fields: Any) -> bytes:
    """A payload asking the test handler (Go's or ours) for a behaviour."""
    return json.dumps({"behaviour": fields}).encode()
