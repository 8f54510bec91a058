"""The chart, our images and the operator on a real kubelet with real containers (issue #16).

In file order: the chart's operator in-cluster (1), Redis and the example pool with a burst
from a Pod (2), scale up, exactly once, idle-first scale-down with real SIGTERMs (3), a pod
force-deleted while holding tasks (4), the operator and Redis pods deleted (5), logs, metrics
through the API server's proxy and the chart's NOTES commands (6), and last, `down` leaves the
machine as it was found.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
import redis.asyncio as aioredis
from kasynq import Client, Task
from kasynq.broker.metrics import active_tasks_by_host
from kasynq.inspector import Inspector
from kasynq_operator.resources import HTTP_PORT, label_selector

from devenv.realnode import host
from devenv.realnode.host import BRIDGE
from tests.operator.test_crds import pool
from tests.realnode.conftest import OPERATOR_NAMESPACE, POOL_NAMESPACE, REDIS_QUEUE, Node, wait_for

pytestmark = [
    pytest.mark.requires_realnode,
    pytest.mark.timeout(600),
]

POOL = "demo"
POOL_SELECTOR = label_selector(POOL)
OPERATOR_SELECTOR = "app.kubernetes.io/name=kasynq-operator"
MIN_REPLICAS = 1


@contextmanager
def redis_client(node: Node) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(node.redis_url(), socket_timeout=5)
    try:
        yield client
    finally:
        client.close()


def runs(node: Node, record: str) -> dict[int, int]:
    """Task number -> completed runs, as examples/handlers.py counts them."""
    with redis_client(node) as client:
        return {int(n): int(c) for n, c in client.hgetall(record).items()}


def left_in_queue(node: Node) -> int:
    inspector = Inspector.from_url(node.redis_url())
    try:
        info = inspector.get_queue_info(REDIS_QUEUE)
    finally:
        inspector.close()
    return info.pending + info.active + info.scheduled + info.retry + info.archived


def enqueue_work(node: Node, tasks: int, ms: int, record: str) -> None:
    """What examples/burst.py enqueues, sent from the test process through the Service."""
    payloads = [{"n": n, "ms": ms, "record": record} for n in range(tasks)]
    with Client.from_url(node.redis_url()) as client:
        client.enqueue_many(
            [Task("demo:work", json.dumps(payload).encode()) for payload in payloads],
            queue=REDIS_QUEUE,
        )


def active_by_host(node: Node) -> dict[str, int]:
    async def read() -> dict[str, int]:
        client = aioredis.Redis.from_url(node.redis_url())
        try:
            return await active_tasks_by_host(client)
        finally:
            await client.aclose()

    return asyncio.run(read())


def pool_pods(node: Node) -> list[dict[str, object]]:
    return node.pods(POOL_NAMESPACE, POOL_SELECTOR)


def pod_names(pods: list[dict[str, object]], *, terminating: bool | None = None) -> set[str]:
    names = set()
    for pod in pods:
        meta = pod["metadata"]
        assert isinstance(meta, dict)
        if terminating is None or ("deletionTimestamp" in meta) == terminating:
            names.add(str(meta["name"]))
    return names


def desired_and_replicas(node: Node) -> tuple[int, int]:
    status = node.json("-n", POOL_NAMESPACE, "get", "asynqworkerpool", POOL).get("status", {})
    assert isinstance(status, dict)
    deployment = node.json("-n", POOL_NAMESPACE, "get", "deployment", f"{POOL}-worker")
    spec = deployment["spec"]
    assert isinstance(spec, dict)
    return int(status.get("desiredReplicas", -1)), int(spec["replicas"])


def wait_back_at_min(node: Node, timeout: float = 180.0) -> None:
    def at_min() -> bool:
        pods = pool_pods(node)
        return desired_and_replicas(node)[1] == MIN_REPLICAS and len(pods) == MIN_REPLICAS

    wait_for(at_min, f"the pool back at {MIN_REPLICAS} pod", timeout)


def restarts(pods: list[dict[str, object]]) -> dict[str, int]:
    counts = {}
    for pod in pods:
        status = pod["status"]
        assert isinstance(status, dict)
        containers = status.get("containerStatuses", [])
        counts[str(pod["metadata"]["name"])] = sum(  # type: ignore[index]
            int(c["restartCount"]) for c in containers
        )
    return counts


# 1 ------------------------------------------------------------------------------------------


def test_chart_runs_the_operator_in_cluster(realnode: Node, operator_release: str) -> None:
    """helm install with the image built here: non-root, restricted namespace, probes pass
    (`--wait` and the Ready condition), its own ServiceAccount, logged in through cluster DNS."""
    labels = realnode.json("get", "namespace", OPERATOR_NAMESPACE)["metadata"]
    assert labels["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"  # type: ignore[index]
    (pod,) = realnode.pods(OPERATOR_NAMESPACE, OPERATOR_SELECTOR)
    spec, status = pod["spec"], pod["status"]
    assert spec["serviceAccountName"] == "kasynq"  # type: ignore[index]
    ready = {c["type"]: c["status"] for c in status["conditions"]}  # type: ignore[index]
    assert ready["Ready"] == "True"
    name = pod["metadata"]["name"]  # type: ignore[index]
    uid = realnode.kubectl("-n", OPERATOR_NAMESPACE, "exec", name, "--", "id", "-u").strip()
    assert uid == "10001"
    # In-cluster login through kubernetes.default.svc (CoreDNS + kube-proxy): RBAC lets the
    # operator's ServiceAccount watch pools, which it says in its log once it is serving.
    can = realnode.kubectl("auth", "can-i", "watch", "asynqworkerpools.kasynq.io", "-A",
                           f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:kasynq")  # fmt: skip
    assert can.strip() == "yes"


def test_chart_webhook_refuses_a_bad_cron_at_apply_time(
    realnode: Node, operator_release: str
) -> None:
    """The API server reaches the chart's webhook through its Service (kube-proxy) and trusts
    the chart-made certificate: `@every banana` is refused at apply time. The webhook is
    registered with failurePolicy Ignore, so only a working path can refuse it."""
    schedule = {"name": "r", "cron": "@every banana", "taskType": "report", "queue": "work"}
    bad = pool("bad-cron", queues=[{"name": "work"}], schedules=[schedule])
    result = realnode.run_kubectl(
        "apply", "-n", POOL_NAMESPACE, "--dry-run=server", "-f", "-", stdin=json.dumps(bad)
    )
    assert result.returncode != 0, result.stdout
    assert "spec.schedules[0].cron" in result.stderr and "banana" in result.stderr


# 2 ------------------------------------------------------------------------------------------


def test_redis_and_example_pool_take_a_burst_from_a_pod(realnode: Node, demo_pool: str) -> None:
    """examples/redis.yaml as a Pod, the example Secret/Queue/Pool, and `kubectl run burst`."""
    # kubectl run -i may miss a short pod's output (it falls back to its logs): count runs.
    realnode.burst(200, 10, record="rn:smoke")
    wait_for(lambda: len(runs(realnode, "rn:smoke")) == 200, "the 200 tasks to run", 120)
    assert set(runs(realnode, "rn:smoke").values()) == {1}


# 3 ------------------------------------------------------------------------------------------


def test_scale_up_exactly_once_and_idle_first_scale_down(realnode: Node, demo_pool: str) -> None:
    """A burst scales real pods up; every task runs once; back to min, the ReplicaSet removes
    idle pods first and the busy ones removed get a real SIGTERM and push back their work."""
    wait_back_at_min(realnode)
    realnode.burst(3000, 50, record="rn:burst")
    wait_for(lambda: desired_and_replicas(realnode)[1] > MIN_REPLICAS, "a scale-up", 60)
    # Long tasks after the burst: some pods are still busy when the pool scales down. Sent
    # from here at once: a `kubectl run` pod takes seconds to start, by which time the burst
    # may be drained and the scale-down begun (seen with the rest of the suite running).
    enqueue_work(realnode, 3, 45000, record="rn:slow")
    peak = 0
    busy: set[str] = set()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        pods = pool_pods(realnode)
        peak = max(peak, len(pod_names(pods, terminating=False)))
        if pod_names(pods, terminating=True):
            break  # the scale-down began; `busy` is the last view before it
        busy = {name for name, count in active_by_host(realnode).items() if count}
        time.sleep(0.5)
    assert peak > MIN_REPLICAS
    assert busy, "no pod held a long task when the scale-down began"
    wait_back_at_min(realnode, 240)
    (survivor,) = pod_names(pool_pods(realnode))
    assert survivor in busy, f"the idle-first scale-down kept {survivor}, busy were {busy}"
    # Pushed back by the SIGTERMed pods and re-run: each task completed exactly once.
    wait_for(lambda: len(runs(realnode, "rn:slow")) == 3, "the long tasks to complete", 200)
    assert set(runs(realnode, "rn:slow").values()) == {1}
    burst = runs(realnode, "rn:burst")
    assert len(burst) == 3000 and set(burst.values()) == {1}
    assert left_in_queue(realnode) == 0


# 4 ------------------------------------------------------------------------------------------


def test_force_deleted_pod_loses_no_task(realnode: Node, demo_pool: str) -> None:
    """`kubectl delete --grace-period=0 --force` of a pod holding tasks: lease recovery runs
    them elsewhere, every task completes."""
    wait_back_at_min(realnode)
    realnode.burst(5, 20000, record="rn:force")
    holders: dict[str, int] = {}

    def someone_holds() -> bool:
        holders.update({k: v for k, v in active_by_host(realnode).items() if v})
        return bool(holders)

    wait_for(someone_holds, "a pod to hold the tasks", 60)
    victim = max(holders, key=lambda name: holders[name])
    realnode.kubectl("-n", POOL_NAMESPACE, "delete", "pod", victim, "--grace-period=0",
                     "--force", "--wait=false")  # fmt: skip
    # Lease expiry (30 s), the next recoverer pass, then the retry delay.
    wait_for(lambda: len(runs(realnode, "rn:force")) == 5, "every task after lease expiry", 300)
    assert set(runs(realnode, "rn:force").values()) == {1}
    wait_for(lambda: left_in_queue(realnode) == 0, "the queue to be empty", 60)


# 5 ------------------------------------------------------------------------------------------


def test_operator_pod_deleted_new_one_takes_over(realnode: Node, demo_pool: str) -> None:
    """The operator's pod deleted: the new one runs the pool, no replica change meanwhile."""
    wait_back_at_min(realnode)
    (old,) = pod_names(realnode.pods(OPERATOR_NAMESPACE, OPERATOR_SELECTOR))
    realnode.kubectl("-n", OPERATOR_NAMESPACE, "delete", "pod", old)
    realnode.kubectl("-n", OPERATOR_NAMESPACE, "rollout", "status", "deployment/kasynq",
                     "--timeout=120s")  # fmt: skip
    (new,) = pod_names(realnode.pods(OPERATOR_NAMESPACE, OPERATOR_SELECTOR), terminating=False)
    assert new != old
    for _ in range(10):  # a few of the pool's 1 s polls by the new operator
        assert desired_and_replicas(realnode)[1] == MIN_REPLICAS
        time.sleep(1)
    # The new operator acts: a burst scales the pool up again.
    realnode.burst(1500, 50, record="rn:takeover")
    wait_for(lambda: desired_and_replicas(realnode)[1] > MIN_REPLICAS, "a scale-up", 60)
    wait_for(lambda: len(runs(realnode, "rn:takeover")) == 1500, "the tasks to run", 120)


def test_redis_down_workers_not_restarted_and_resume(realnode: Node, demo_pool: str) -> None:
    """Redis deleted and recreated after longer than the workers' liveness window: the worker
    pods are not restarted by their liveness probe, and resume."""
    wait_back_at_min(realnode, 240)
    before = restarts(pool_pods(realnode))
    realnode.kubectl("-n", POOL_NAMESPACE, "scale", "deployment/redis", "--replicas=0")
    realnode.kubectl("-n", POOL_NAMESPACE, "wait", "--for=delete", "pod", "-l", "app=redis",
                     "--timeout=60s")  # fmt: skip
    time.sleep(45)  # longer than the liveness probe's 6 x 5 s
    realnode.kubectl("-n", POOL_NAMESPACE, "scale", "deployment/redis", "--replicas=1")
    realnode.kubectl("-n", POOL_NAMESPACE, "rollout", "status", "deployment/redis",
                     "--timeout=120s")  # fmt: skip
    realnode.burst(100, 10, record="rn:resume")
    wait_for(lambda: len(runs(realnode, "rn:resume")) == 100, "the workers to resume", 120)
    assert restarts(pool_pods(realnode)) == before


# 6 ------------------------------------------------------------------------------------------


def test_logs_metrics_through_the_api_proxy_and_notes_commands(
    realnode: Node, demo_pool: str, operator_release: str
) -> None:
    """`kubectl logs`, /metrics of the operator and of a worker through the API server's
    proxy, and every kubectl command of the chart's NOTES.txt."""
    assert realnode.kubectl("-n", OPERATOR_NAMESPACE, "logs", "deployment/kasynq").strip()
    (worker, *_) = sorted(pod_names(pool_pods(realnode), terminating=False))
    assert realnode.kubectl("-n", POOL_NAMESPACE, "logs", worker).strip()
    operator_metrics = realnode.kubectl(
        "get", "--raw",
        f"/api/v1/namespaces/{OPERATOR_NAMESPACE}/services/kasynq-metrics:8080/proxy/metrics",
    )  # fmt: skip
    assert "kasynq_" in operator_metrics
    worker_metrics = realnode.kubectl(
        "get",
        "--raw",
        f"/api/v1/namespaces/{POOL_NAMESPACE}/pods/{worker}:{HTTP_PORT}/proxy/metrics",
    )
    assert "kasynq_" in worker_metrics
    notes = realnode.helm("get", "notes", "kasynq", "--namespace", OPERATOR_NAMESPACE)
    commands = re.findall(r"^\s+kubectl (.+)$", notes, re.MULTILINE)
    assert commands, notes
    for command in commands:
        if command.endswith(" -w"):  # a watch: one listing is enough
            command = command.removesuffix(" -w")
        realnode.kubectl(*command.split(), "--request-timeout=60s")


# the network rule ---------------------------------------------------------------------------

NETWORK_PROBE = """
import socket
routes = [line.split()[1] for line in open("/proc/net/route").read().splitlines()[1:]]
print("default-route" if "00000000" in routes else "no-default-route")
print("cluster-name", socket.gethostbyname("redis.default.svc.cluster.local"))
try:
    socket.getaddrinfo("example.com", 443)
    print("outside-name-resolved")
except socket.gaierror:
    print("outside-name-unknown")
"""


def test_pods_cannot_reach_beyond_the_machine(realnode: Node, demo_pool: str) -> None:
    """No default route in a pod, cluster DNS answers only cluster.local, the drop rule is in
    place and the machine-wide ip_forward is as it was found."""
    (worker, *_) = sorted(pod_names(pool_pods(realnode), terminating=False))
    out = realnode.kubectl("-n", POOL_NAMESPACE, "exec", worker, "--", "python", "-c",
                           NETWORK_PROBE)  # fmt: skip
    assert "no-default-route" in out.split()
    assert "outside-name-unknown" in out.split()
    assert re.search(r"cluster-name 10\.96\.0\.\d+", out)
    mangle = subprocess.run(["iptables", "-t", "mangle", "-S", "FORWARD"], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    assert f"-i {BRIDGE} ! -o {BRIDGE}" in mangle and "-j DROP" in mangle
    assert (
        host.read_sysctls()["net.ipv4.ip_forward"] == realnode.found.sysctls["net.ipv4.ip_forward"]
    )


# last ---------------------------------------------------------------------------------------


def test_down_leaves_the_machine_as_found(realnode: Node) -> None:
    """`down` stops everything and restores the host: no bridge, rules, chains, tables,
    mounts or cgroups of ours, sysctls back (kubelet changes some while up)."""
    realnode.node.down()
    assert realnode.found.differences(host.snapshot()) == []
    assert host.recorded() is None
