"""The operator at many pools, against a real API server and Redis: batched sampling, one apply
per owned object of a new pool."""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from kasynq import keys
from kasynq_operator.autoscaler import PoolController
from kasynq_operator.kube import KubeApi
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import GROUP, POOL_PLURAL, VERSION, SecretRef
from kubernetes import client

from devenv.redis_servers import RedisServer
from tests.fixtures.kube import Kube

POLLS_AT_ONCE = 300
"""More than redis-py's 100 pooled connections: one pipeline per poll raised
MaxConnectionsError at 1,000 pools, and each error closed the client for all the others."""


def redis_secret(kube: Kube, namespace: str, server: RedisServer) -> None:
    """Secret "redis" with the server's URL, as the pools' and queues' specs name it."""
    client.CoreV1Api(kube.api_client).create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="redis"), string_data={"url": server.url}
        ),
    )


def connections_received(server: RedisServer) -> int:
    with redis.Redis.from_url(server.url) as conn:
        return int(conn.info("stats")["total_connections_received"])


async def test_polls_at_once_share_one_pipeline(
    kube: Kube, namespace: str, redis_server: RedisServer
) -> None:
    redis_secret(kube, namespace, redis_server)
    queues = [f"{namespace}:q{index}" for index in range(POLLS_AT_ONCE)]
    with redis.Redis.from_url(redis_server.url) as conn:
        conn.lpush(keys.pending_key(queues[7]), "a", "b")
    clients = RedisClients(KubeApi(kube.api_client))
    secret = SecretRef("redis")
    await clients.get(namespace, secret)  # the Secret read and the client made once
    before = connections_received(redis_server)
    try:
        samples = await asyncio.gather(
            *(clients.sample(namespace, secret, [queue], 30) for queue in queues)
        )
    finally:
        await clients.close()
    assert [sample.queues[0].name for sample in samples] == queues
    assert samples[7].queues[0].pending == 2
    assert sum(sample.queues[0].pending for sample in samples) == 2
    assert connections_received(redis_server) - before <= 2, "one pipeline, not one per poll"


class CountingKube(KubeApi):
    """The real API, with the operator's applies and Secret reads counted."""

    applies = 0
    reads = 0

    def apply(self, manifest: Any, owner: Any) -> dict[str, Any]:
        CountingKube.applies += 1
        return super().apply(manifest, owner)

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        CountingKube.reads += 1
        return super().read_secret(namespace, name)


async def test_a_new_pool_applies_its_objects_once(
    kube: Kube, namespace: str, redis_server: RedisServer, crds: list[str]
) -> None:
    """The poll after the one that created the Deployment applied all three objects again:
    3,000 extra applies at 1,000 pools, queued ahead of scale writes."""
    custom = client.CustomObjectsApi(kube.api_client)
    redis_secret(kube, namespace, redis_server)
    queue_spec = {"redis": {"secretName": "redis"}}
    pool_spec = {
        "queues": [{"name": "jobs"}],
        "handlers": "app.tasks:mux",
        "template": {"image": "registry.invalid/app:1"},
    }
    for plural, kind, name, spec in (
        ("asynqqueues", "AsynqQueue", "jobs", queue_spec),
        ("asynqworkerpools", "AsynqWorkerPool", "pool", pool_spec),
    ):
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name}}
        custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, {**body, "spec": spec}
        )
    pool = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, POOL_PLURAL, "pool")
    kube_api = CountingKube(kube.api_client)
    clients = RedisClients(kube_api)
    controller = PoolController(kube_api, clients, namespace, "pool", lambda *_: None)
    try:
        for _ in range(3):
            assert await controller.step(pool, {"jobs": queue_spec}) is not None
    finally:
        await clients.close()
    assert CountingKube.applies == 3, "ConfigMap, Service and Deployment, each once"


async def test_first_polls_at_once_read_the_secret_once_and_share_one_client(
    kube: Kube, namespace: str, redis_server: RedisServer
) -> None:
    """At start-up every pool and queue asks for its client at once: each read the Secret and
    made a client, overwriting the others' without closing them (1,000 at 1,000 pools)."""
    redis_secret(kube, namespace, redis_server)
    CountingKube.reads = 0
    clients = RedisClients(CountingKube(kube.api_client))
    try:
        got = await asyncio.gather(*(clients.get(namespace, SecretRef("redis")) for _ in range(50)))
    finally:
        await clients.close()
    assert len({id(redis_client) for redis_client in got}) == 1
    assert CountingKube.reads == 1
