"""`target`: one Redis (standalone or Cluster) with Go asynq and kasynq both connected to it.

Tests that take `target` run twice, once per Redis kind (issue 3, item 6: the same suite on
the Cluster fixture).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import redis.cluster
from kasynq.client import Client
from kasynq.inspector import Inspector

from devenv.goasynq import GoAsynq
from devenv.redis_servers import RedisCluster


@dataclass
class Target:
    """Go (goasynq) and Python (blocking Client and Inspector) on the same Redis."""

    kind: str
    go: GoAsynq
    client: Client
    inspector: Inspector
    redis: redis.Redis | redis.cluster.RedisCluster
    redis_url: str | None = None
    cluster_nodes: list[tuple[str, int]] | None = None

    def all_keys(self, pattern: str = "*") -> list[bytes]:
        """KEYS on every node (redis-py sends a Cluster KEYS to one node only)."""
        if isinstance(self.redis, redis.cluster.RedisCluster):
            primaries = self.redis.get_primaries()
            replies = self.redis.keys(pattern, target_nodes=primaries)
            if isinstance(replies, dict):
                return [key for node_keys in replies.values() for key in node_keys]
            return list(replies)
        return list(self.redis.keys(pattern))

    def flush(self) -> None:
        if isinstance(self.redis, redis.cluster.RedisCluster):
            self.redis.flushall(target_nodes=redis.cluster.RedisCluster.PRIMARIES)
        else:
            self.redis.flushall()


@pytest.fixture(params=["standalone", "cluster"])
def target(request: pytest.FixtureRequest, go_asynq: Path) -> Iterator[Target]:
    if request.param == "standalone":
        url: str = request.getfixturevalue("redis_url")
        setup = Target(
            "standalone",
            GoAsynq.standalone(go_asynq, url),
            Client.from_url(url),
            Inspector.from_url(url),
            redis.Redis.from_url(url),
            redis_url=url,
        )
    else:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        nodes = cluster.startup_nodes
        setup = Target(
            "cluster",
            GoAsynq.cluster(go_asynq, nodes),
            Client.from_cluster(nodes),
            Inspector.from_cluster(nodes),
            redis.cluster.RedisCluster(host=nodes[0][0], port=nodes[0][1]),
            cluster_nodes=nodes,
        )
    try:
        yield setup
    finally:
        setup.go.close()
        setup.client.close()
        setup.inspector.close()
        setup.redis.close()
