"""`get_queue_infos`: every queue's QueueInfo in one pipelined round trip, equal to
`get_queue_info` queue by queue; and `redis_info` on Standalone and Cluster."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis.asyncio
import redis.asyncio.cluster
from kasynq.broker.core import Broker
from kasynq.errors import QueueNotFoundError
from kasynq.inspector import AsyncInspector
from redis.asyncio.connection import AbstractConnection

from devenv.redis_servers import RedisCluster
from tests.test_inspector import Q, client, message, seed_every_state

__all__ = ["client"]  # the fixture, shared with test_inspector

OTHER_QUEUES = ("low", "mail", "reports")


def fixed_clock() -> Callable[[], int]:
    """A clock stopped a few seconds from now, so both reads see the same latency."""
    now_ns = time.time_ns() + 5 * 10**9
    return lambda: now_ns


class RoundTrips:
    """Counts writes to Redis sockets: each is one round trip (a pipeline is one write)."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    counter = RoundTrips()
    send = AbstractConnection.send_packed_command

    async def counting_send(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        counter.count += 1
        await send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting_send)
    yield counter


async def seed(client: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster) -> None:
    broker = Broker(client)
    await seed_every_state(broker)
    for number, queue in enumerate(OTHER_QUEUES):
        for _ in range(number + 1):
            await broker.enqueue(message(queue=queue))


@pytest.fixture
async def cluster_client(
    redis_cluster: RedisCluster,
) -> AsyncIterator[redis.asyncio.cluster.RedisCluster]:
    nodes = [redis.asyncio.cluster.ClusterNode(h, p) for h, p in redis_cluster.startup_nodes]
    conn = redis.asyncio.cluster.RedisCluster(startup_nodes=nodes)
    yield conn
    await conn.aclose()


async def assert_one_round_trip_and_same_values(
    inspector: AsyncInspector, round_trips: RoundTrips, max_round_trips: int
) -> None:
    queues = await inspector.queues()
    assert queues == sorted((Q, *OTHER_QUEUES))
    one_by_one = [await inspector.get_queue_info(queue) for queue in queues]
    await inspector.get_queue_infos()  # scripts cached and connections open: count steady state

    round_trips.count = 0
    together = await inspector.get_queue_infos()
    assert round_trips.count <= max_round_trips
    assert together == one_by_one
    by_name = dict(zip(queues, one_by_one, strict=True))
    assert await inspector.get_queue_infos(["mail", Q]) == [by_name["mail"], by_name[Q]]


async def test_queue_infos_in_one_pipeline_equal_queue_by_queue(
    client: redis.asyncio.Redis, round_trips: RoundTrips
) -> None:
    await seed(client)
    inspector = AsyncInspector(client, clock=fixed_clock())
    # SMEMBERS asynq:queues, then one pipeline of two scripts per queue.
    await assert_one_round_trip_and_same_values(inspector, round_trips, max_round_trips=2)
    info = (await inspector.get_queue_infos([Q]))[0]
    assert (info.pending, info.active, info.aggregating, info.groups) == (3, 1, 3, 2)
    assert info.memory_usage > 0 and info.latency.total_seconds() >= 0


async def test_queue_infos_on_cluster_one_round_trip_per_node(
    cluster_client: redis.asyncio.cluster.RedisCluster,
    redis_cluster: RedisCluster,
    round_trips: RoundTrips,
) -> None:
    await seed(cluster_client)
    inspector = AsyncInspector(cluster_client, clock=fixed_clock())
    nodes = len(redis_cluster.nodes)
    await assert_one_round_trip_and_same_values(inspector, round_trips, max_round_trips=1 + nodes)


async def test_queue_infos_of_unknown_queue_is_not_found(client: redis.asyncio.Redis) -> None:
    await seed(client)
    with pytest.raises(QueueNotFoundError, match="nope"):
        await AsyncInspector(client).get_queue_infos([Q, "nope"])
    with pytest.raises(ValueError, match="queue name"):
        await AsyncInspector(client).get_queue_infos([" "])


async def test_redis_info_on_standalone_and_cluster(
    client: redis.asyncio.Redis,
    cluster_client: redis.asyncio.cluster.RedisCluster,
    redis_cluster: RedisCluster,
) -> None:
    standalone = await AsyncInspector(client).redis_info()
    assert standalone["redis_version"].split(".")[0].isdigit()
    assert int(standalone["connected_clients"]) >= 1

    clustered = await AsyncInspector(cluster_client).redis_info()
    assert clustered["cluster_state"] == "ok" and clustered["cluster_known_nodes"] == "3"
    nodes = clustered["nodes"].split(", ")
    assert sorted(nodes) == sorted(f"{host}:{port}" for host, port in redis_cluster.startup_nodes)
    versions = clustered["redis_version"].split(", ")
    assert versions == [standalone["redis_version"]] * len(nodes)
    assert all(int(n) >= 1 for n in clustered["connected_clients"].split(", "))
