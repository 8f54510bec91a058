"""Real Redis servers for tests, benchmarks and the demo: standalone, Cluster and Sentinel,
all from Debian's `redis-server`.

Every server listens on a free loopback port and keeps no data on disk unless asked;
`cleanup()` stops it and removes its directory.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devenv.processes import free_port, wait_until

STARTUP_TIMEOUT_SECONDS = 10.0
CLUSTER_BUS_OFFSET = 10000


@dataclass
class RedisServer:
    """One `redis-server` (or sentinel) process on a loopback port."""

    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    persistent: bool = False
    sentinel: bool = False
    config_text: str = ""
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="kasynq-redis-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def _command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run `make test` or apt-get it")
        if self.sentinel:
            conf = self.workdir / "sentinel.conf"
            conf.write_text(self.config_text)
            return [binary, str(conf), "--sentinel", "--port", str(self.port)]
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.persistent
            else ["--save", "", "--appendonly", "no"]
        )
        return [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--logfile",
            str(self.workdir / "redis.log"),
            *persistence,
            *self.extra_args,
        ]

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(
            self._answers_ping,
            f"redis on port {self.port}",
            STARTUP_TIMEOUT_SECONDS,
            tolerate=(redis.RedisError, OSError),
        )
        return self

    def _answers_ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = self.workdir / "redis.log"
            detail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"redis-server on port {self.port} exited: {detail}")
        with self.client() as conn:
            return bool(conn.ping())

    def stop(self) -> None:
        """Kill the process (no save) and wait for it; idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        """Stop and start on the same port and directory (data survives if persistent)."""
        if self.process is not None and self.process.poll() is None:
            if self.persistent:
                with contextlib.suppress(redis.RedisError), self.client() as conn:
                    conn.shutdown(save=False)
                self.process.wait(timeout=10)
            self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class RedisCluster:
    """Three masters joined with `redis-cli --cluster create`."""

    nodes: list[RedisServer]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    def flushall(self) -> None:
        for node in self.nodes:
            with node.client() as conn:
                conn.flushall()


@dataclass
class RedisSentinel:
    """One master, one replica and one sentinel watching the master under `master_name`."""

    master: RedisServer
    replica: RedisServer
    sentinel: RedisServer
    master_name: str = "kasynq-master"

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", self.sentinel.port)]


@contextlib.contextmanager
def running_redis(**kwargs: object) -> Iterator[RedisServer]:
    """A started RedisServer, cleaned up on exit."""
    server = RedisServer(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.cleanup()


def _cluster_ok(node: RedisServer) -> bool:
    with node.client() as conn:
        info = conn.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


@contextlib.contextmanager
def running_cluster(masters: int = 3) -> Iterator[RedisCluster]:
    """`masters` cluster nodes joined with `redis-cli --cluster create`, no replicas."""
    cluster_args = [
        "--cluster-enabled",
        "yes",
        "--cluster-config-file",
        "nodes.conf",
        "--cluster-node-timeout",
        "5000",
    ]
    nodes = [
        RedisServer(port=free_port(CLUSTER_BUS_OFFSET), extra_args=cluster_args)
        for _ in range(masters)
    ]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{node.port}" for node in nodes),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for node in nodes:
            wait_until(
                lambda node=node: _cluster_ok(node),  # type: ignore[misc]
                f"cluster_state:ok on {node.port}",
                STARTUP_TIMEOUT_SECONDS,
                tolerate=(redis.RedisError, OSError),
            )
        yield RedisCluster(nodes)
    finally:
        for node in nodes:
            node.cleanup()


def _sentinel_sees(setup: RedisSentinel) -> bool:
    with setup.sentinel.client() as conn:
        master = conn.sentinel_master(setup.master_name)
        replicas = conn.sentinel_slaves(setup.master_name)
    return int(master["port"]) == setup.master.port and len(replicas) >= 1


@contextlib.contextmanager
def running_sentinel() -> Iterator[RedisSentinel]:
    """A master, its replica and one sentinel that sees both."""
    master = RedisServer()
    replica = RedisServer()
    sentinel = RedisServer(sentinel=True)
    setup = RedisSentinel(master, replica, sentinel)
    try:
        master.start()
        replica.extra_args = ["--replicaof", "127.0.0.1", str(master.port)]
        replica.start()
        sentinel.config_text = (
            f"sentinel monitor {setup.master_name} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {setup.master_name} 2000\n"
            f"sentinel failover-timeout {setup.master_name} 10000\n"
            f"logfile {sentinel.workdir / 'redis.log'}\n"
        )
        sentinel.start()
        wait_until(
            lambda: _sentinel_sees(setup),
            "sentinel to see master and replica",
            30,
            tolerate=(redis.RedisError, OSError),
        )
        yield setup
    finally:
        for server in (sentinel, replica, master):
            server.cleanup()
