"""The real node for `tests/realnode/`: one node per session, brought up once and down at the end.

Tests here are marked `requires_realnode`. They are skipped with the reason when this machine
cannot run the node (not root, no overlayfs/bridge/memory cgroup, no Go or apt-get), and on
CI (CI set) that is an error instead, so CI cannot go green by skipping them. The binaries and
images are built before any test runs (cold: ~10 min on 2 cores), so no build counts against a
test's timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devenv.processes import wait_until
from devenv.realnode import host
from devenv.realnode.node import Binaries, RealNode, build, build_images, requirements_missing

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
OPERATOR_NAMESPACE = "kasynq-system"
POOL_NAMESPACE = "default"
REDIS_QUEUE = f"{POOL_NAMESPACE}:work"
_built: dict[str, object] = {}


def _realnode_items(items: list[pytest.Item]) -> list[pytest.Item]:
    return [item for item in items if item.get_closest_marker("requires_realnode")]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = _realnode_items(items)
    if not wanted:
        return
    reason = requirements_missing()
    if reason is None:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI is set but the real-node tests cannot run: {reason}")
    for item in wanted:
        item.add_marker(pytest.mark.skip(reason=f"real node: {reason}"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build packages, binaries and images before the first test (a cold build must not count
    against a test's timeout)."""
    if not any(
        item.get_closest_marker("requires_realnode") and not item.get_closest_marker("skip")
        for item in session.items
    ):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("real node: packages, binaries and images (cold: ~10 min)")
    binaries = build()
    _built["binaries"] = binaries
    _built["images"] = build_images(binaries)


@dataclass
class Node:
    """The session's real node, with kubectl and helm as admin."""

    node: RealNode
    found: host.HostState

    def run_kubectl(
        self, *args: str, stdin: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        """kubectl as admin, whatever its exit status."""
        return subprocess.run(
            [str(self.node.binaries.control_plane / "kubectl"), "--kubeconfig",
             str(self.node.kubeconfig), *args],
            input=stdin, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 180) -> str:
        result = self.run_kubectl(*args, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def helm(self, *args: str) -> str:
        return self.node.helm(*args)

    def json(self, *args: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.kubectl(*args, "-o", "json"))
        return document

    def pods(self, namespace: str, selector: str) -> list[dict[str, object]]:
        items = self.json("-n", namespace, "get", "pods", "-l", selector)["items"]
        assert isinstance(items, list)
        return items

    def redis_url(self) -> str:
        """The example Redis through its Service address (on the node's bridge)."""
        return f"redis://{self.node.service_ip(POOL_NAMESPACE, 'redis')}:6379/0"

    def burst(self, tasks: int, ms: int, record: str) -> str:
        """`kubectl run burst` as in docs/kind.md, plus the restricted securityContext the
        namespace demands and a `--record` hash to count executions."""
        name = f"burst-{uuid.uuid4().hex[:6]}"
        container = {
            "name": name,
            "securityContext": {  # kubectl run names it after the pod
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            },
        }
        overrides = {"spec": {"containers": [container], "securityContext": {
            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}}}  # fmt: skip
        return self.kubectl(
            "-n", POOL_NAMESPACE, "run", name, "--rm", "-i", "--restart=Never",
            "--image=kasynq-worker-examples:dev", "--image-pull-policy=Never",
            "--env=KASYNQ_REDIS_URL=redis://redis:6379/0",
            "--override-type=strategic", f"--overrides={json.dumps(overrides)}",
            "--command", "--", "python", "/app/burst.py", "--tasks", str(tasks),
            "--ms", str(ms), "--queue", REDIS_QUEUE, "--record", record,
        )  # fmt: skip


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120.0) -> None:
    """Poll every 0.5 s (API reads are not free)."""
    wait_until(condition, what, timeout, interval=0.5)


@pytest.fixture(scope="session")
def realnode() -> Iterator[Node]:
    """The node, up for the whole session; down (host restored) at its end."""
    binaries = _built.get("binaries")
    images = _built.get("images")
    assert isinstance(binaries, Binaries) and isinstance(images, Path)
    node = RealNode(binaries)
    node.up(images)
    # What `up` recorded, after it restored any earlier run's leftovers (a run killed on this
    # machine): the state `down` must bring back, not the leftovers a snapshot taken now holds.
    found = host.recorded()
    try:
        assert found is not None, "realnode up recorded no host state"
        yield Node(node, found)
    finally:
        node.down()


@pytest.fixture(scope="session")
def operator_release(realnode: Node) -> str:
    """The chart installed with the operator image built here, in a restricted namespace;
    the pool's namespace is restricted too. Returns the chart's NOTES."""
    realnode.node.restricted_namespace(POOL_NAMESPACE)
    return realnode.node.install_operator(OPERATOR_NAMESPACE)


@pytest.fixture(scope="session")
def demo_pool(realnode: Node, operator_release: str) -> str:
    """Redis from examples/redis.yaml and the example Secret, Queue and Pool, rolled out."""
    realnode.kubectl("apply", "-n", POOL_NAMESPACE, "-f", str(EXAMPLES / "redis.yaml"))
    realnode.kubectl("-n", POOL_NAMESPACE, "rollout", "status", "deployment/redis",
                     "--timeout=120s")  # fmt: skip
    realnode.kubectl(
        "apply", "-n", POOL_NAMESPACE, "-f", str(EXAMPLES / "secret.yaml"),
        "-f", str(EXAMPLES / "queue.yaml"), "-f", str(EXAMPLES / "pool.yaml"),
    )  # fmt: skip
    # The operator creates the Deployment a moment after the pool: wait for it to exist.
    realnode.kubectl("-n", POOL_NAMESPACE, "wait", "--for=create", "deployment/demo-worker",
                     "--timeout=60s")  # fmt: skip
    realnode.kubectl("-n", POOL_NAMESPACE, "rollout", "status", "deployment/demo-worker",
                     "--timeout=120s")  # fmt: skip
    return "demo"
