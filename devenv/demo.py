"""`make demo`: the whole autoscaling loop on one machine, without Docker.

Starts the dev control plane (`devcluster`), a loopback `redis-server`, the CRDs, the
`kasynq-operator` process and the kubelet stand-in (`kubelet_standin`), then applies the
example Secret, AsynqQueue and AsynqWorkerPool of `examples/`, enqueues a burst of tasks and
shows a live table until the queue drained and the pool is back at its minimum. The summary
checks, from Redis, that every enqueued task ran exactly once. Ctrl-C tears everything down.

With `--real-node` (`make demo-node`, needs root) the same loop runs on the real node
(`devenv.realnode`): the operator from its image through the Helm chart, Redis from
`examples/redis.yaml` and the worker pods as real containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import click
import redis
import redis.asyncio as aioredis
import yaml
from kasynq.broker.metrics import active_tasks_by_host
from kasynq.client import Client
from kasynq.inspector import Inspector
from kasynq.task import Task
from kasynq_operator.resources import GROUP, POOL_PLURAL, VERSION, label_selector, names
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from rich import box
from rich.console import Console
from rich.live import Live
from rich.table import Table

from devenv.devcluster import DevCluster, DevClusterError, build_binaries
from devenv.kubelet_standin import KubeletStandIn, PodEvent
from devenv.processes import WaitTimeout, free_port, spawn_child, stop_process, wait_until
from devenv.realnode.node import (
    RealNode,
    RealNodeError,
    build,
    build_images,
    requirements_missing,
)
from devenv.redis_servers import running_redis

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CRDS = REPO / "crds"
NAMESPACE = "kasynq-demo"
QUEUE = "work"
POOL = "demo"
TASK_TYPE = "demo:work"
RECORD_KEY = "kasynq-demo:runs"
"""Hash the example handler counts executions in: field = task number, value = runs."""
ENQUEUE_CHUNK = 1000
SAMPLE_SECONDS = 0.5
START_TIMEOUT_SECONDS = 60.0
OPERATOR = Path(sys.executable).with_name("kasynq-operator")
OPERATOR_NAMESPACE = "kasynq-system"


@dataclass(frozen=True)
class DemoOptions:
    tasks: int = 5000
    task_ms: int = 50
    slow_tasks: int = 0
    """Extra long tasks enqueued after the burst (idle-first scale-in shows with them)."""
    slow_task_ms: int = 20000
    min_replicas: int = 1
    max_replicas: int = 10
    concurrency: int = 10
    target_backlog_per_replica: int = 100
    poll_seconds: float = 1.0
    scale_down_seconds: float = 10.0
    target_latency_seconds: float = 5.0
    scale_to_zero_idle_seconds: float = 60.0
    due_soon_lookahead_seconds: float = 30.0
    schedule: str | None = None
    """Replaces the cron spec of the example pool's schedule (e.g. `@every 40s`)."""
    timeout_seconds: float = 600.0
    live: bool = True


@dataclass(frozen=True)
class Sample:
    """One look at the loop: Redis queue state, the pool's decision and the pods."""

    time: float
    pending: int
    active: int
    latency_seconds: float
    processed_total: int
    failed_total: int
    desired: int | None
    deployment_replicas: int | None
    ready: int
    running: int
    processed_per_second: float


@dataclass
class DemoResult:
    """What happened, with the times relative to the start of the burst."""

    enqueued: int = 0
    enqueue_errors: int = 0
    completed_unique: int = 0
    executions: int = 0
    failed_total: int = 0
    left_in_queue: int = 0
    peak_replicas: int = 0
    scale_up_decided_seconds: float | None = None
    scale_up_ready_seconds: float | None = None
    drained_seconds: float | None = None
    scaled_down_seconds: float | None = None
    samples: list[Sample] = field(default_factory=list)
    pod_events: list[PodEvent] = field(default_factory=list)
    burst_started: float = 0.0

    @property
    def all_completed_once(self) -> bool:
        return (
            self.enqueue_errors == 0
            and self.completed_unique == self.enqueued
            and self.executions == self.enqueued
            and self.left_in_queue == 0
        )


class DemoError(RuntimeError):
    """The demo could not set up or did not finish in time."""


@contextlib.contextmanager
def operator_process(kubeconfig: Path, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`kasynq-operator` watching the demo namespace, logging to `operator.log`."""
    command = [str(OPERATOR), "--namespace", NAMESPACE, "--metrics-port", str(free_port())]
    command += ["--log-level", "info"]
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    process = spawn_child(command, workdir / "operator.log", env)
    try:
        yield process
    finally:
        stop_process(process)


def example_manifests(redis_url: str, options: DemoOptions) -> list[dict[str, Any]]:
    """The example Secret, Queue and Pool, pointed at the local Redis with the demo's sizes."""
    secret, queue, pool = (
        yaml.safe_load((EXAMPLES / name).read_text())
        for name in ("secret.yaml", "queue.yaml", "pool.yaml")
    )
    secret["stringData"]["url"] = redis_url
    spec = pool["spec"]
    spec["concurrency"] = options.concurrency
    spec["replicas"] = {"min": options.min_replicas, "max": options.max_replicas}
    spec["autoscaling"].update(
        pollIntervalSeconds=options.poll_seconds,
        scaleDownStabilizationSeconds=options.scale_down_seconds,
        targetBacklogPerReplica=options.target_backlog_per_replica,
        targetLatencySeconds=options.target_latency_seconds,
        scaleToZeroIdleSeconds=options.scale_to_zero_idle_seconds,
        dueSoonLookaheadSeconds=options.due_soon_lookahead_seconds,
    )
    if options.schedule is not None:
        spec["schedules"][0]["cron"] = options.schedule
    for manifest in (secret, queue, pool):
        manifest["metadata"]["namespace"] = NAMESPACE
    return [secret, queue, pool]


class WorkerPods(Protocol):
    """What the demo reads of the pool's pods: the stand-in's processes or real pods."""

    events: list[PodEvent]

    def running(self) -> list[str]: ...

    def failure(self) -> str | None: ...


class RealPods:
    """The pool's pods on the real node, read from the API."""

    def __init__(self, api_client: client.ApiClient, namespace: str, selector: str) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.selector = selector
        self.events: list[PodEvent] = []

    def _pods(self) -> list[Any]:
        pods: Any = self.core.list_namespaced_pod(self.namespace, label_selector=self.selector)
        return list(pods.items)

    def running(self) -> list[str]:
        return sorted(
            pod.metadata.name
            for pod in self._pods()
            if pod.status.phase == "Running" and pod.metadata.deletion_timestamp is None
        )

    def failure(self) -> str | None:
        """A worker container that restarted or cannot start, named with its reason."""
        for pod in self._pods():
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting
                if status.restart_count or (waiting and waiting.reason in STUCK_REASONS):
                    reason = waiting.reason if waiting else "restarted"
                    return (
                        f"worker pod {pod.metadata.name}: {reason}, {status.restart_count} "
                        f"restarts (kubectl -n {self.namespace} logs {pod.metadata.name})"
                    )
        return None


STUCK_REASONS = frozenset(
    {"CrashLoopBackOff", "ErrImageNeverPull", "CreateContainerConfigError", "RunContainerError"}
)


class Demo:
    """The running demo's handles: cluster API, Redis, the pods; and its measurements."""

    def __init__(
        self,
        api_client: client.ApiClient,
        redis_url: str,
        pods: WorkerPods,
        opts: DemoOptions,
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.inspector = Inspector.from_url(redis_url)
        self.pods = pods
        self.options = opts
        self.redis_queue = f"{NAMESPACE}:{QUEUE}"
        self.result = DemoResult()

    def close(self) -> None:
        self.inspector.close()
        self.redis.close()

    def deployment(self) -> tuple[int | None, int]:
        """The worker Deployment's spec.replicas and ready replicas (None before it exists)."""
        try:
            deployment: Any = self.apps.read_namespaced_deployment(
                names(POOL)["deployment"], NAMESPACE
            )
        except ApiException as exc:
            if exc.status == 404:
                return None, 0
            raise
        return deployment.spec.replicas, deployment.status.ready_replicas or 0

    def pool_status(self) -> dict[str, Any]:
        """The example pool's status as the operator last wrote it."""
        pool: Any = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, POOL_PLURAL, POOL
        )
        return dict(pool.get("status", {}))

    def desired(self) -> int | None:
        value = self.pool_status().get("desiredReplicas")
        return int(value) if value is not None else None

    def check_workers(self) -> None:
        """Fail fast when a worker died on its own (e.g. its handlers do not import)."""
        problem = self.pods.failure()
        if problem:
            raise DemoError(problem)

    def wait_for_pool(self) -> None:
        def ready() -> bool:
            self.check_workers()
            _, ready_replicas = self.deployment()
            return ready_replicas >= self.options.min_replicas

        wait_until(ready, f"{self.options.min_replicas} ready worker pod(s)", START_TIMEOUT_SECONDS)

    def enqueue_burst(self) -> None:
        """`tasks` short tasks then `slow_tasks` long ones, in pipelined chunks."""
        opts = self.options
        self.redis.delete(RECORD_KEY)
        jobs = [(n, opts.task_ms) for n in range(opts.tasks)]
        jobs += [(opts.tasks + n, opts.slow_task_ms) for n in range(opts.slow_tasks)]
        self.result.burst_started = time.monotonic()
        with Client.from_url(self.redis_url) as producer:
            for start in range(0, len(jobs), ENQUEUE_CHUNK):
                tasks = [
                    Task(TASK_TYPE, json.dumps({"n": n, "ms": ms, "record": RECORD_KEY}).encode())
                    for n, ms in jobs[start : start + ENQUEUE_CHUNK]
                ]
                outcomes = producer.enqueue_many(tasks, queue=self.redis_queue)
                errors = sum(isinstance(outcome, Exception) for outcome in outcomes)
                self.result.enqueued += len(outcomes) - errors
                self.result.enqueue_errors += errors

    def sample(self, previous: Sample | None) -> Sample:
        info = self.inspector.get_queue_info(self.redis_queue)
        spec_replicas, ready = self.deployment()
        now = time.monotonic()
        rate = 0.0
        if previous is not None and now > previous.time:
            rate = (info.processed_total - previous.processed_total) / (now - previous.time)
        return Sample(
            time=now,
            pending=info.pending,
            active=info.active,
            latency_seconds=info.latency.total_seconds(),
            processed_total=info.processed_total,
            failed_total=info.failed_total,
            desired=self.desired(),
            deployment_replicas=spec_replicas,
            ready=ready,
            running=len(self.pods.running()),
            processed_per_second=rate,
        )

    def finished(self, sample: Sample) -> bool:
        """Drained, every task recorded, and the pool back at its minimum."""
        result, opts = self.result, self.options
        since = sample.time - result.burst_started
        resized = (sample.deployment_replicas or 0) > opts.min_replicas
        if resized and result.scale_up_decided_seconds is None:
            result.scale_up_decided_seconds = since
        if sample.ready > opts.min_replicas and result.scale_up_ready_seconds is None:
            result.scale_up_ready_seconds = since
        result.peak_replicas = max(result.peak_replicas, sample.ready)
        if result.drained_seconds is None:
            if sample.pending or sample.active or self.redis.hlen(RECORD_KEY) < result.enqueued:
                return False
            result.drained_seconds = since
        at_min = (
            sample.deployment_replicas == opts.min_replicas
            and sample.running == opts.min_replicas
            and result.scale_up_decided_seconds is not None
        )
        if at_min:
            result.scaled_down_seconds = since
        return at_min

    def check(self) -> None:
        """Count, from Redis, what ran: unique tasks, executions, failures, leftovers."""
        runs = {int(n): int(count) for n, count in self.redis.hgetall(RECORD_KEY).items()}
        info = self.inspector.get_queue_info(self.redis_queue)
        self.result.completed_unique = len(runs)
        self.result.executions = sum(runs.values())
        self.result.failed_total = info.failed_total
        self.result.left_in_queue = (
            info.pending + info.active + info.scheduled + info.retry + info.archived
        )
        self.result.pod_events = list(self.pods.events)

    def active_by_pod(self, pod: str, serving: list[str]) -> Mapping[str, Any]:
        """When `pod`'s deletion is seen: its in-flight tasks, and how many of the other
        `serving` pods are idle and busy (idle pods should go first)."""

        async def read() -> dict[str, int]:
            conn = aioredis.Redis.from_url(self.redis_url)
            try:
                return await active_tasks_by_host(conn)
            finally:
                await conn.aclose()

        counts = asyncio.run(read())
        others = [counts.get(name, 0) for name in serving if name != pod]
        return {
            "active": counts.get(pod, 0),
            "idle_others": sum(1 for count in others if count == 0),
            "busy_others": sum(1 for count in others if count > 0),
        }


HISTORY_ROWS = 15
HISTORY_EVERY = 4
"""The live table keeps one row per HISTORY_EVERY samples (2 s), the last HISTORY_ROWS."""


def table(samples: list[Sample], result: DemoResult, options: DemoOptions) -> Table:
    """The recent history of the loop, newest row last."""
    view = Table(
        title=f"kasynq demo: {result.enqueued} tasks of {options.task_ms} ms", box=box.SIMPLE
    )
    for column in ("t s", "pending", "active", "lat s", "done/s", "desired", "replicas",
                   "ready", "done"):  # fmt: skip
        view.add_column(column, justify="right", no_wrap=True, min_width=len(column))
    history = samples[:-1:HISTORY_EVERY][-(HISTORY_ROWS - 1) :] + samples[-1:]
    for sample in history:
        view.add_row(
            f"{sample.time - result.burst_started:.1f}",
            str(sample.pending),
            str(sample.active),
            f"{sample.latency_seconds:.1f}",
            f"{sample.processed_per_second:.0f}",
            "-" if sample.desired is None else str(sample.desired),
            "-" if sample.deployment_replicas is None else str(sample.deployment_replicas),
            str(sample.ready),
            str(sample.processed_total),
        )
    return view


def watch(demo: Demo, console: Console) -> None:
    """Sample until finished or timed out, drawing the live table when asked to."""
    options = demo.options
    deadline = demo.result.burst_started + options.timeout_seconds
    previous: Sample | None = None
    live = Live(console=console, auto_refresh=False) if options.live else None
    with live if live is not None else contextlib.nullcontext():
        while True:
            sample = demo.sample(previous)
            demo.result.samples.append(sample)
            if live is not None:
                live.update(table(demo.result.samples, demo.result, options), refresh=True)
            if demo.finished(sample):
                return
            demo.check_workers()
            if time.monotonic() > deadline:
                raise DemoError(f"not finished after {options.timeout_seconds:.0f}s")
            previous = sample
            time.sleep(SAMPLE_SECONDS)


def run_demo(options: DemoOptions, console: Console, workdir: Path) -> DemoResult:
    """Set everything up, run the burst, tear everything down; returns the measurements.

    Logs (operator, redis, one per worker pod) go to `workdir`.
    """
    with demo_loop(options, console, workdir) as demo:
        return run_burst(demo, console)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def demo_loop(options: DemoOptions, console: Console, workdir: Path) -> Iterator[Demo]:
    """The loop up to a ready pool: control plane, Redis, CRDs, operator, kubelet stand-in and
    the example objects; everything is torn down on exit."""
    with contextlib.ExitStack() as stack:
        # No spinner here: the build prints its own progress lines (cold: ~7 min on 2 cores).
        console.print("control plane binaries: reusing them, or building them the first time")
        bin_dir = build_binaries()
        with console.status("starting etcd, kube-apiserver, kube-controller-manager, redis"):
            cluster = stack.enter_context(DevCluster(bin_dir))
            redis_url = stack.enter_context(running_redis()).url
            _kubectl(cluster, "apply", "--server-side", "-f", str(CRDS))
            _kubectl(
                cluster, "wait", "--for=condition=Established", "--timeout=30s", "crd", "--all"
            )
            _kubectl(cluster, "create", "namespace", NAMESPACE)
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=str(cluster.kubeconfig)
            )
            stack.callback(api_client.close)
            core = client.CoreV1Api(api_client)
            wait_until(
                lambda: (
                    core.list_namespaced_service_account(
                        NAMESPACE, field_selector="metadata.name=default"
                    ).items
                ),
                f"the default ServiceAccount of {NAMESPACE}",
                START_TIMEOUT_SECONDS,
            )
        console.print(f"control plane {cluster.server}, redis {redis_url}")
        stack.enter_context(operator_process(cluster.kubeconfig, workdir))
        standin = KubeletStandIn(
            api_client,
            NAMESPACE,
            workdir / "pods",
            selector=label_selector(POOL),
            extra_pythonpath=[EXAMPLES],
        )
        demo = Demo(api_client, redis_url, standin, options)
        stack.callback(demo.close)
        standin.on_terminating = lambda pod: demo.active_by_pod(pod, standin.serving())
        stack.enter_context(standin)
        manifests = yaml.safe_dump_all(example_manifests(redis_url, options))
        _kubectl(cluster, "apply", "-f", "-", stdin=manifests)
        with console.status("operator: creating the worker Deployment; stand-in: starting pods"):
            demo.wait_for_pool()
        yield demo


def run_burst(demo: Demo, console: Console) -> DemoResult:
    """Enqueue the burst into the ready pool, watch until done, count what ran."""
    with console.status(f"enqueueing {demo.options.tasks + demo.options.slow_tasks} tasks"):
        demo.enqueue_burst()
    watch(demo, console)
    demo.check()
    return demo.result


def run_demo_on_real_node(options: DemoOptions, console: Console) -> DemoResult:
    """The same loop on the real node: the chart's operator in-cluster, Redis from
    examples/redis.yaml and real worker pods; the node is taken down at the end."""
    console.print("real node: packages, binaries and images (cold: ~10 min, then cached)")
    binaries = build()
    images = build_images(binaries)
    node = RealNode(binaries)
    with contextlib.ExitStack() as stack:
        with console.status("real node: bridge, containerd, control plane, kubelet, CoreDNS"):
            stack.callback(node.down)
            node.up(images)
        with console.status("operator: helm install; redis: examples/redis.yaml"):
            node.install_operator(OPERATOR_NAMESPACE)
            node.restricted_namespace(NAMESPACE)
            node.kubectl("-n", NAMESPACE, "apply", "-f", str(EXAMPLES / "redis.yaml"))
            node.kubectl("-n", NAMESPACE, "rollout", "status", "deployment/redis",
                         "--timeout=120s")  # fmt: skip
        # This machine reaches Redis through its Service address on the node's bridge; the
        # pods through cluster DNS.
        redis_url = f"redis://{node.service_ip(NAMESPACE, 'redis')}:6379/0"
        in_cluster_url = f"redis://redis.{NAMESPACE}.svc.cluster.local:6379/0"
        console.print(f"real node {node.cluster.server}, redis {in_cluster_url}")
        api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(node.kubeconfig)
        )
        stack.callback(api_client.close)
        demo = Demo(api_client, redis_url, RealPods(api_client, NAMESPACE, label_selector(POOL)),
                    options)  # fmt: skip
        stack.callback(demo.close)
        manifests = yaml.safe_dump_all(example_manifests(in_cluster_url, options))
        node.kubectl("apply", "-f", "-", stdin=manifests)
        with console.status("operator: creating the worker Deployment; kubelet: starting pods"):
            demo.wait_for_pool()
        return run_burst(demo, console)
    raise AssertionError("unreachable")


def _kubectl(cluster: DevCluster, *args: str, stdin: str | None = None) -> str:
    result = cluster.kubectl(*args, stdin=stdin)
    if result.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def summary(result: DemoResult, options: DemoOptions) -> Table:
    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    view = Table(title="summary", show_header=False)
    view.add_column("what")
    view.add_column("value", justify="right")
    scale_down = (
        None
        if result.scaled_down_seconds is None or result.drained_seconds is None
        else result.scaled_down_seconds - result.drained_seconds
    )
    rows = [
        ("peak ready replicas", f"{result.peak_replicas} (min {options.min_replicas}, "
                                f"max {options.max_replicas})"),
        ("time to scale up: Deployment resized", seconds(result.scale_up_decided_seconds)),
        ("time to scale up: first extra pod ready", seconds(result.scale_up_ready_seconds)),
        ("time to drain (every task done)", seconds(result.drained_seconds)),
        ("time to scale back down after draining", seconds(scale_down)),
        ("tasks enqueued", str(result.enqueued)),
        ("tasks completed (distinct)", str(result.completed_unique)),
        ("task executions", str(result.executions)),
        ("failed / left in Redis", f"{result.failed_total} / {result.left_in_queue}"),
        ("enqueued = completed, each once", "yes" if result.all_completed_once else "NO"),
    ]  # fmt: skip
    for name, value in rows:
        view.add_row(name, value)
    return view


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--tasks", default=5000, show_default=True, type=click.IntRange(1), help="Burst size."
)
@click.option(
    "--task-ms", default=50, show_default=True, type=click.IntRange(0), help="Work per task."
)
@click.option("--max-replicas", default=10, show_default=True, type=click.IntRange(1))
@click.option(
    "--concurrency", default=10, show_default=True, type=click.IntRange(1), help="Per worker pod."
)
@click.option(
    "--scale-down-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0),
    help="The pool's scaleDownStabilizationSeconds.",
)
@click.option(
    "--poll-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.2),
    help="The pool's pollIntervalSeconds.",
)
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(1),
    help="Give up when not drained and back at min by then (seconds after the burst).",
)
@click.option(
    "--real-node",
    is_flag=True,
    help="Run on the real node (real kubelet and containers, the chart's operator; needs root).",
)
@click.option("--log-level", default="warning", show_default=True)
def main(
    tasks: int,
    task_ms: int,
    max_replicas: int,
    concurrency: int,
    scale_down_seconds: float,
    poll_seconds: float,
    timeout: float,
    real_node: bool,
    log_level: str,
) -> None:
    """Run the autoscaling loop on a local control plane and show it scale up and down."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    # Ctrl-C and SIGTERM both tear down in order, even when started with SIGINT ignored
    # (as a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    options = DemoOptions(
        tasks=tasks,
        task_ms=task_ms,
        max_replicas=max_replicas,
        concurrency=concurrency,
        scale_down_seconds=scale_down_seconds,
        poll_seconds=poll_seconds,
        timeout_seconds=timeout,
    )
    console = Console()
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kasynq-demo-"))
    console.print(f"[bold]kasynq demo[/]: logs in {workdir} (kept if it fails)")
    if real_node and (reason := requirements_missing()):
        raise click.ClickException(f"the real node cannot run here: {reason}")
    try:
        if real_node:
            result = run_demo_on_real_node(options, console)
        else:
            result = run_demo(options, console, workdir)
    except KeyboardInterrupt:
        console.print(f"interrupted: everything was stopped; logs in {workdir}")
        sys.exit(130)
    except (DemoError, DevClusterError, RealNodeError, WaitTimeout) as exc:
        raise click.ClickException(f"{exc} (logs in {workdir})") from None
    console.print()
    console.print(summary(result, options))
    console.print(f"demo wall time {time.monotonic() - started:.0f} s")
    if not result.all_completed_once:
        raise click.ClickException(
            f"not every enqueued task completed exactly once (logs in {workdir})"
        )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
