"""Operator benchmarks on the local control plane: decision latency and RSS per pool count.

For each pool count the operator (`kasynq-operator`, one process, watching one namespace)
manages that many AsynqWorkerPools, each with its own AsynqQueue, at the CRDs' default poll
interval; each run has its own fresh control plane and Redis. A sample enqueues a burst of
tasks into one pool's queue with kasynq's Client and times until that pool's Deployment has
a larger `spec.replicas`. Pods never run (there is no kubelet), so the backlog only grows
and repeated bursts on the same pool keep scaling it up.
"""

from __future__ import annotations

import contextlib
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench import procs
from bench.processes import ProcessGroup, running
from bench.stats import percentile
from bench.systems import REPO_ROOT, Command
from bench.workloads import MIB, RunFailed, fresh_redis

GROUP, VERSION = "kasynq.io", "v1alpha1"
BURST_TASKS = 100
MAX_REPLICAS = 10_000
SAMPLE_TIMEOUT_SECONDS = 30.0
SETTLE_TIMEOUT_SECONDS = 900.0
DEFAULT_POLL_SECONDS = 2.0
POLL_API_SECONDS = 0.05


POOL_COUNTS = (1, 50, 200, 1000)


def unavailable_reason(may_build: bool) -> str | None:
    """Why the operator benchmark cannot run here, or None; builds the control plane if
    allowed (a cold build takes about 5 minutes on 2 cores, too long for --quick)."""
    try:
        from devenv.devcluster import DevClusterError, binaries_built, build_binaries
    except ImportError as exc:
        return f"the operator has not landed: {exc}"
    if binaries_built():
        return None
    if not may_build:
        return "the Kubernetes control-plane binaries are not built yet: `make bench` builds them"
    try:
        build_binaries()
    except DevClusterError as exc:
        return str(exc)
    return None


def versions() -> dict[str, str]:
    """kopf, the Kubernetes client and the control plane the operator benchmark runs on."""
    from importlib.metadata import version

    from devenv.devcluster import build_binaries

    apiserver = subprocess.run(
        [str(build_binaries() / "kube-apiserver"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    return {
        "kopf": version("kopf"),
        "kubernetes (Python client)": version("kubernetes"),
        "kube-apiserver": apiserver[-1] if apiserver else "?",
    }


class Cluster:
    """A DevCluster with the project's CRDs applied, and API handles."""

    def __init__(self) -> None:
        from kubernetes import client, config

        from devenv.devcluster import DevCluster, build_binaries

        self.devcluster = DevCluster(build_binaries()).start()
        try:
            crds = [arg for path in sorted((REPO_ROOT / "crds").glob("*.yaml"))
                    for arg in ("-f", str(path))]  # fmt: skip
            self._kubectl("apply", "--server-side", *crds)
            self._kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
            api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
            self.core = client.CoreV1Api(api_client)
            self.apps = client.AppsV1Api(api_client)
            self.custom = client.CustomObjectsApi(api_client)
        except BaseException:
            self.devcluster.stop()
            raise

    @property
    def kubeconfig(self) -> Path:
        path: Path = self.devcluster.kubeconfig
        return path

    def _kubectl(self, *args: str) -> None:
        result = self.devcluster.kubectl(*args)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {args[0]} failed: {result.stderr.strip()}")

    def stop(self) -> None:
        self.devcluster.stop()

    def create(self, namespace: str, plural: str, kind: str, name: str, spec: Any) -> None:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": name},
                "spec": spec}  # fmt: skip
        self.custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, body)

    def replicas(self, namespace: str, pool: str) -> int | None:
        from kubernetes.client.exceptions import ApiException

        try:
            deployment = self.apps.read_namespaced_deployment(f"{pool}-worker", namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return int(deployment.spec.replicas or 0)

    def settled_pools(self, namespace: str) -> int:
        deployments = self.apps.list_namespaced_deployment(namespace).items
        return sum(1 for item in deployments if item.spec.replicas == 1)


def _create_pools(cluster: Cluster, namespace: str, redis_url: str, count: int) -> list[str]:
    from kubernetes import client

    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="redis"), string_data={"url": redis_url}
    )
    cluster.core.create_namespaced_secret(namespace, secret)
    pools = [f"pool{index}" for index in range(count)]
    for index, pool in enumerate(pools):
        queue = f"queue{index}"
        cluster.create(
            namespace, "asynqqueues", "AsynqQueue", queue, {"redis": {"secretName": "redis"}}
        )
        spec = {
            "queues": [{"name": queue}],
            "handlers": "bench.peers.kasynq_peer:handler",
            "template": {"image": "registry.invalid/bench:1"},
            "replicas": {"min": 1, "max": MAX_REPLICAS},
        }
        cluster.create(namespace, "asynqworkerpools", "AsynqWorkerPool", pool, spec)
    return pools


def _wait_settled(cluster: Cluster, namespace: str, count: int, operator: ProcessGroup) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while cluster.settled_pools(namespace) < count:
        exited = operator.exited()
        if exited:
            raise RunFailed(f"operator {exited}: {operator.log_tail()}")
        if time.monotonic() > deadline:
            raise RunFailed(f"only {cluster.settled_pools(namespace)} of {count} pools at min size")
        time.sleep(1.0)


def _burst_latency(
    cluster: Cluster, namespace: str, pool: str, queue: str, redis_url: str
) -> float:
    from kasynq.client import Client
    from kasynq.task import Task

    before = cluster.replicas(namespace, pool) or 0
    with Client.from_url(redis_url) as producer:
        began = time.monotonic()
        producer.enqueue_many([Task("bench:noop", b"")] * BURST_TASKS, queue=f"{namespace}:{queue}")
    while time.monotonic() - began < SAMPLE_TIMEOUT_SECONDS:
        if (cluster.replicas(namespace, pool) or 0) > before:
            return time.monotonic() - began
        time.sleep(POLL_API_SECONDS)
    raise RunFailed(f"{pool} did not scale up within {SAMPLE_TIMEOUT_SECONDS:.0f}s of a burst")


@contextlib.contextmanager
def fresh_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def operator_run(pool_count: int, samples: int, workdir: Path) -> dict[str, float]:
    """p50/p95 of burst → patched spec.replicas with `pool_count` pools, and operator RSS.

    Each run has its own control plane: objects left from an earlier run (pools whose
    finalizer no operator removes any more) would otherwise change what the operator holds.
    """
    namespace = f"bench-{pool_count}"
    chooser = random.Random(pool_count)
    with fresh_cluster() as cluster, fresh_redis() as server:
        operator = Command(
            [str(Path(sys.executable).with_name("kasynq-operator")), "--namespace", namespace,
             "--http-port", "0"],
            env={"KUBECONFIG": str(cluster.kubeconfig)},
        )  # fmt: skip
        with running([operator], workdir / f"operator-{pool_count}.log") as group:
            pools = _create_pools(cluster, namespace, server.url, pool_count)
            _wait_settled(cluster, namespace, pool_count, group)
            latencies = []
            for sample in range(samples):
                index = sample % pool_count
                time.sleep(chooser.uniform(0, DEFAULT_POLL_SECONDS))
                latencies.append(
                    _burst_latency(cluster, namespace, pools[index], f"queue{index}", server.url)
                )
            rss = procs.rss_bytes(group.pids())
    return {
        "p50": percentile(latencies, 0.5),
        "p95": percentile(latencies, 0.95),
        "rss_mib": rss / MIB,
    }
