"""The inspector on Redis Cluster (every script in one slot) and the blocking `Inspector`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
from kasynq.broker.core import Broker
from kasynq.errors import QueueNotEmptyError
from kasynq.inspector import AsyncInspector, Inspector
from kasynq.task import TaskState

from devenv.redis_servers import RedisCluster, RedisSentinel
from tests.test_inspector import Q, seed_every_state


@pytest.fixture
async def cluster_inspector(redis_cluster: RedisCluster) -> AsyncIterator[AsyncInspector]:
    inspector = AsyncInspector.from_cluster(redis_cluster.startup_nodes)
    yield inspector
    await inspector.close()


async def test_cluster_queue_info_listing_and_mutations(
    redis_cluster: RedisCluster, cluster_inspector: AsyncInspector
) -> None:
    client = redis.asyncio.cluster.RedisCluster(
        startup_nodes=[
            redis.asyncio.cluster.ClusterNode(host, port)
            for host, port in redis_cluster.startup_nodes
        ]
    )
    try:
        ids = await seed_every_state(Broker(client))
    finally:
        await client.aclose()
    inspector = cluster_inspector

    info = await inspector.get_queue_info(Q)
    assert (info.pending, info.active, info.scheduled, info.retry, info.archived) == (3, 1, 2, 1, 1)
    assert (info.completed, info.aggregating, info.groups, info.processed) == (1, 3, 2, 3)
    assert info.memory_usage > 0
    assert [day.processed for day in await inspector.history(Q, 2)] == [3, 0]
    assert [t.id for t in await inspector.list_pending_tasks(Q)] == ids["pending"]
    assert len(await inspector.list_aggregating_tasks(Q, "g1")) == 2
    await inspector.run_task(Q, ids["archived"][0])
    await inspector.archive_task(Q, ids["aggregating"][-1])
    await inspector.delete_task(Q, ids["scheduled"][0])
    assert (await inspector.get_task_info(Q, ids["archived"][0])).state is TaskState.PENDING
    assert await inspector.archive_all_pending_tasks(Q) == 4
    assert await inspector.delete_all_archived_tasks(Q) == 5
    await inspector.pause_queue(Q)
    assert (await inspector.get_queue_info(Q)).paused
    with pytest.raises(QueueNotEmptyError):
        await inspector.delete_queue(Q)
    assert await inspector.queues() == [Q]


def test_blocking_inspector(redis_url: str) -> None:
    async def seed() -> dict[str, list[str]]:
        async with redis.asyncio.Redis.from_url(redis_url) as client:
            return await seed_every_state(Broker(client))

    ids = asyncio.run(seed())
    with Inspector(redis.Redis.from_url(redis_url)) as inspector:
        assert inspector.get_queue_info(Q).pending == 3
        pending = inspector.list_pending_tasks(Q, page_size=2)
        assert [info.id for info in pending] == ids["pending"][:2]
        inspector.run_task(Q, ids["retry"][0])
        assert inspector.run_all_scheduled_tasks(Q) == 2
        assert inspector.get_queue_info(Q).pending == 6
        assert inspector.servers() == []
    with Inspector.from_url(redis_url) as inspector:
        assert inspector.queues() == [Q]


def test_blocking_inspector_through_sentinel(redis_sentinel: RedisSentinel) -> None:
    with redis.Redis(port=redis_sentinel.master.port) as master:
        master.sadd("asynq:queues", "via-sentinel")
    inspector = Inspector.from_sentinel(redis_sentinel.master_name, redis_sentinel.sentinels)
    with inspector:
        assert inspector.queues() == ["via-sentinel"]


async def test_cluster_key_slot_and_nodes(
    redis_cluster: RedisCluster, cluster_inspector: AsyncInspector
) -> None:
    slot = await cluster_inspector.cluster_key_slot("default")
    assert slot == 5718  # CRC16("default") % 16384, the slot Go reports for asynq:{default}
    (node,) = await cluster_inspector.cluster_nodes("default")
    assert node.addr in {f"{host}:{port}" for host, port in redis_cluster.startup_nodes}
    assert len(node.id) == 40
