"""The real node: bridge, containerd, control plane, scheduler, kubelet, kube-proxy, CoreDNS.

Fixed names (one real node per machine at a time): bridge `kasynq0` with 10.244.0.1/24, pods
in 10.244.0.0/24 with no default route, services in 10.96.0.0/24, the apiserver on
https://10.244.0.1:26443, etcd on 127.0.0.1:22379. Nothing a pod sends leaves the machine:
no masquerade, the global `ip_forward` untouched, forwarding on for the bridge only, and a
mangle FORWARD rule drops anything routed from the bridge to another interface.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from devenv.devcluster import DevCluster, build_binaries
from devenv.processes import WaitTimeout, wait_until
from devenv.realnode import host
from devenv.realnode.host import BRIDGE, RUN_DIR, STATE_DIR

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
HACK = REPO / "hack" / "realnode"
NODE_NAME = "realnode"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"
API_SERVICE_IP = "10.96.0.1"
DNS_IP = "10.96.0.10"
API_PORT = 26443
ETCD_PORT = 22379
KUBELET_HEALTHZ = "http://127.0.0.1:10248/healthz"
PROXY_HEALTHZ = "http://127.0.0.1:10256/healthz"
CONTAINERD_SOCKET = RUN_DIR / "containerd.sock"
PAUSE_IMAGE = "localhost/kasynq-pause:1.0"
DROP_RULE = ("FORWARD", "-i", BRIDGE, "!", "-o", BRIDGE, "-m", "comment", "--comment",
             "kasynq-realnode: nothing leaves the machine", "-j", "DROP")  # fmt: skip
READY_SECONDS = 120.0
RESTRICTED = "pod-security.kubernetes.io/enforce=restricted"


class RealNodeError(RuntimeError):
    """The real node could not be built, started or checked."""


def requirements_missing() -> str | None:
    """Why this machine cannot run the real node, or None when it can."""
    if os.geteuid() != 0:
        return "the real node needs root (bridge, iptables, mounts, cgroups)"
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems and subprocess.run(["modprobe", "overlay"]).returncode:
        return "the kernel has no overlay filesystem (containerd's snapshotter)"
    if (
        not (host.CGROUP_ROOT / "memory").is_dir()
        and not (host.CGROUP_ROOT / "cgroup.controllers").exists()
    ):
        return "no memory cgroup controller is mounted under /sys/fs/cgroup"
    if (
        not Path("/sys/module/bridge").exists()
        and subprocess.run(["modprobe", "bridge"], capture_output=True).returncode
    ):
        return "the kernel has no bridge module"
    if shutil.which("go") is None:
        return "the Go toolchain is needed to build the node's binaries"
    if shutil.which("apt-get") is None:
        return "the node's packages (runc, podman, ...) come from apt-get"
    return None


def _script(name: str, *args: str) -> str:
    """Run a hack/realnode script (its progress goes to our stderr); return its last line."""
    result = subprocess.run(
        ["bash", str(HACK / name), *args], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise RealNodeError(f"hack/realnode/{name} failed with exit {result.returncode}")
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@contextmanager
def step(what: str) -> Iterator[None]:
    """Log a step's start and how long it took (every step of `up` prints its duration)."""
    started = time.monotonic()
    log.info("realnode step=%s", what)
    yield
    log.info("realnode step=%s done seconds=%.1f", what, time.monotonic() - started)


def _get_ok(url: str) -> bool:
    """A plain-HTTP health endpoint on loopback answers 200 (errors count as not yet)."""
    with urllib.request.urlopen(url, timeout=2) as reply:
        return bool(reply.status == 200)


@dataclass(frozen=True)
class Binaries:
    control_plane: Path
    node: Path


def build() -> Binaries:
    """Packages, control-plane and node binaries (cached under $KASYNQ_CACHE after once)."""
    with step("packages (hack/realnode/deps.sh)"):
        _script("deps.sh")
    with step("binaries (hack/k8s/build.sh, hack/realnode/build.sh)"):
        control_plane = build_binaries()
        node = Path(_script("build.sh"))
    return Binaries(control_plane, node)


def build_images(binaries: Binaries) -> Path:
    """Our three images, Redis, pause and CoreDNS in one archive (rebuilt when sources change)."""
    with step("images (hack/realnode/images.sh)"):
        return Path(_script("images.sh", str(binaries.node)))


class RealNode:
    """A one-node cluster with real containers; `up()` then `down()` (also after a crash)."""

    def __init__(self, binaries: Binaries) -> None:
        self.binaries = binaries
        self.cluster = DevCluster(
            binaries.control_plane,
            STATE_DIR / "cluster",
            address=NODE_IP,
            api_port=API_PORT,
            etcd_port=ETCD_PORT,
            service_cidr=SERVICE_CIDR,
            controllers=("*",),
            authorization_mode="Node,RBAC",
            apiserver_sans=(
                f"IP:{NODE_IP}",
                f"IP:{API_SERVICE_IP}",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ),
            apiserver_args=self._apiserver_args(),
            controller_args=(
                f"--cluster-signing-cert-file={STATE_DIR / 'cluster/pki/ca.crt'}",
                f"--cluster-signing-key-file={STATE_DIR / 'cluster/pki/ca.key'}",
            ),
        )
        self.kubeconfig = self.cluster.kubeconfig

    @staticmethod
    def _apiserver_args() -> tuple[str, ...]:
        pki = STATE_DIR / "cluster" / "pki"
        return (
            "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={pki / 'admin.crt'}",
            f"--kubelet-client-key={pki / 'admin.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            # The apiserver cannot resolve the node's name (blocker 5): dial its address.
            "--kubelet-preferred-address-types=InternalIP",
        )

    def up(self, images: Path) -> None:
        """Record the host, then bring everything up and wait until the node and DNS are ready;
        on failure, tear down what was started."""
        if host.recorded() is not None:
            log.warning("realnode found the state of an earlier run, restoring it first")
            self.down()
        started = time.monotonic()
        host.record()
        try:
            with step("network (bridge kasynq0, forwarding on it only, drop rule)"):
                self._network()
            with step("containerd"):
                self._start_containerd()
            with step("image import"):
                self._ctr("images", "import", "--no-unpack", str(images))
            with step("control plane (etcd, apiserver, controller-manager)"):
                self.cluster.start()
            with step("scheduler, kubelet, kube-proxy"):
                self._start_node()
            with step("CoreDNS"):
                self._start_dns()
        except BaseException:
            self.down()
            raise
        log.info(
            "realnode up kubeconfig=%s seconds=%.1f", self.kubeconfig, time.monotonic() - started
        )

    def down(self) -> None:
        """Stop every component, kill containers, and restore the host as recorded."""
        started = time.monotonic()
        # Reverse start order: kube-proxy, kubelet, scheduler, kcm, apiserver, etcd, containerd.
        self.cluster.stop()
        # kube-proxy's own clean-up of its chains, before the generic one.
        proxy = self.binaries.node / "kube-proxy"
        if host.recorded() is not None and proxy.exists():
            subprocess.run([str(proxy), "--cleanup"], capture_output=True)
        host.restore(self.binaries.node)
        log.info("realnode down seconds=%.1f", time.monotonic() - started)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl as admin; raise RealNodeError with its stderr when it fails."""
        result = self.cluster.kubectl(*args, stdin=stdin)
        if result.returncode != 0:
            raise RealNodeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def helm(self, *args: str) -> str:
        """Run helm as admin; raise RealNodeError with its stderr when it fails."""
        command = [str(self.binaries.control_plane / "helm"), "--kubeconfig",
                   str(self.kubeconfig), *args]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise RealNodeError(f"helm {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def restricted_namespace(self, name: str) -> None:
        """Create `name` (if missing) enforcing the restricted Pod Security Standard."""
        if self.cluster.kubectl("get", "namespace", name).returncode != 0:
            self.kubectl("create", "namespace", name)
        self.kubectl("label", "--overwrite", "namespace", name, RESTRICTED)

    def install_operator(self, namespace: str) -> str:
        """docs/kind.md step 4 with the image built here, in a restricted namespace, waiting
        until it is ready; returns the chart's NOTES."""
        self.restricted_namespace(namespace)
        return self.helm(
            "install", "kasynq", str(REPO / "helm" / "kasynq"), "--namespace", namespace,
            "--set", "image.repository=kasynq-operator", "--set", "image.tag=dev",
            "--set", "image.pullPolicy=Never", "--wait", "--timeout", f"{int(READY_SECONDS)}s",
        )  # fmt: skip

    def service_ip(self, namespace: str, name: str) -> str:
        """A Service's cluster IP (routed to the bridge from this machine, see `_network`)."""
        return self.kubectl(
            "-n", namespace, "get", "service", name, "-o", "jsonpath={.spec.clusterIP}"
        )  # fmt: skip

    def _network(self) -> None:
        if BRIDGE in host.links():
            raise RealNodeError(f"bridge {BRIDGE} exists: another real node is up (run down)")
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        # Service addresses reached from this machine (tests, the demo) go onto the bridge
        # with its source address, never out of the default route if kube-proxy has no rule.
        _ip("route", "add", SERVICE_CIDR, "dev", BRIDGE, "src", NODE_IP)
        # Service VIP -> pod goes back out of the bridge: forwarding for packets entering
        # kasynq0 only; the machine-wide net.ipv4.ip_forward stays as it was.
        Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding").write_text("1\n")
        # mangle, not filter: kube-proxy inserts its own jumps at the top of filter FORWARD.
        subprocess.run(["iptables", "-w", "-t", "mangle", "-I", *DROP_RULE], check=True)
        subprocess.run(["ip6tables", "-w", "-t", "mangle", "-I", *DROP_RULE], check=True)

    def _start_containerd(self) -> None:
        etc = STATE_DIR / "etc"
        (etc / "cni").mkdir(parents=True, exist_ok=True)
        self.cluster.workdir.mkdir(parents=True, exist_ok=True)
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        config = etc / "containerd.toml"
        config.write_text(_containerd_config(etc / "cni"))
        (etc / "cni" / "10-kasynq.conflist").write_text(json.dumps(_cni_config(), indent=1))
        # The 2.x runc shim must come before Debian's on containerd's PATH.
        env = {**os.environ, "PATH": f"{self.binaries.node}:{os.environ.get('PATH', '')}"}
        containerd = self.cluster.spawn(
            "containerd", [f"--config={config}"], self.binaries.node / "containerd", env
        )
        self.cluster.wait_ready(
            "containerd", containerd, lambda: self._ctr("version", check=False) == 0
        )

    def _ctr(self, *args: str, check: bool = True) -> int:
        command = [str(self.binaries.node / "ctr"), "--address", str(CONTAINERD_SOCKET),
                   "-n", "k8s.io", *args]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RealNodeError(f"ctr {' '.join(args)} failed: {result.stderr.strip()}")
        return result.returncode

    def _start_node(self) -> None:
        pki = self.cluster.pki
        client = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                  "extendedKeyUsage=clientAuth"]  # fmt: skip
        identities = {
            "kubelet": f"/O=system:nodes/CN=system:node:{NODE_NAME}",
            "kube-scheduler": "/CN=system:kube-scheduler",
            "kube-proxy": "/CN=system:kube-proxy",
        }
        kubeconfigs = {}
        for name, subject in identities.items():
            pki.issue(name, subject, client)
            kubeconfigs[name] = self.cluster.workdir / f"{name}.kubeconfig"
            self.cluster.write_kubeconfig(kubeconfigs[name], subject.rsplit("=", 1)[1], name)
        pki.issue(
            "kubelet-serving",
            f"/CN={NODE_NAME}",
            ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
             "extendedKeyUsage=serverAuth", f"subjectAltName=IP:{NODE_IP},DNS:{NODE_NAME}"],
        )  # fmt: skip
        node_bin = self.binaries.node
        scheduler = self.cluster.spawn(
            "kube-scheduler",
            [f"--kubeconfig={kubeconfigs['kube-scheduler']}",
             f"--authentication-kubeconfig={kubeconfigs['kube-scheduler']}",
             f"--authorization-kubeconfig={kubeconfigs['kube-scheduler']}",
             "--leader-elect=false", "--secure-port=0"],
            node_bin / "kube-scheduler",
        )  # fmt: skip
        kubelet_config = self.cluster.workdir / "kubelet.yaml"
        kubelet_config.write_text(yaml.safe_dump(_kubelet_config(pki.dir)))
        kubelet = self.cluster.spawn(
            "kubelet",
            [f"--config={kubelet_config}", f"--kubeconfig={kubeconfigs['kubelet']}",
             f"--root-dir={STATE_DIR / 'kubelet'}", f"--hostname-override={NODE_NAME}",
             f"--node-ip={NODE_IP}"],
            node_bin / "kubelet",
        )  # fmt: skip
        proxy = self.cluster.spawn(
            "kube-proxy",
            [f"--kubeconfig={kubeconfigs['kube-proxy']}", f"--hostname-override={NODE_NAME}",
             "--proxy-mode=iptables", f"--cluster-cidr={POD_CIDR}",
             f"--nodeport-addresses={NODE_IP}/32", "--iptables-localhost-nodeports=false",
             # The four below keep kube-proxy off the machine-wide conntrack sysctls.
             "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
             "--conntrack-tcp-timeout-close-wait=0",
             "--healthz-bind-address=127.0.0.1:10256", "--metrics-bind-address=127.0.0.1:10249"],
            node_bin / "kube-proxy",
        )  # fmt: skip
        self.cluster.wait_ready("kubelet", kubelet, lambda: _get_ok(KUBELET_HEALTHZ))
        self.cluster.wait_ready("kube-proxy", proxy, lambda: _get_ok(PROXY_HEALTHZ))
        self._wait(scheduler, "the node to be Ready", self._node_ready)

    def _node_ready(self) -> bool:
        result = self.cluster.kubectl(
            "get", "node", NODE_NAME, "-o",
            "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
        )  # fmt: skip
        return result.returncode == 0 and result.stdout == "True"

    def _start_dns(self) -> None:
        self.kubectl("apply", "-f", str(Path(__file__).with_name("coredns.yaml")))
        self.kubectl(
            "-n", "kube-system", "rollout", "status", "deployment/coredns",
            f"--timeout={int(READY_SECONDS)}s",
        )  # fmt: skip

    def _wait(
        self, process: subprocess.Popen[bytes], what: str, condition: Callable[[], bool]
    ) -> None:
        try:
            wait_until(condition, what, READY_SECONDS, interval=0.5, process=process)
        except WaitTimeout as exc:
            raise RealNodeError(str(exc)) from None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _containerd_config(cni_dir: Path) -> str:
    """containerd 2.x (config version 3), all state under our directories."""
    cri_runtime = '[plugins."io.containerd.cri.v1.runtime"]'
    return f"""version = 3
root = "{STATE_DIR / "containerd"}"
state = "{RUN_DIR / "containerd"}"
# NRI would create /var/run/nri; without cgo these snapshotters are not built anyway.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{CONTAINERD_SOCKET}"

[ttrpc]
  address = "{CONTAINERD_SOCKET}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

{cri_runtime}
  # This VM's bounding set lacks CAP_SYS_RESOURCE: no process may lower oom_score_adj, and
  # kubelet asks -998 for sandboxes (blocker 1). Clamp to containerd's own value.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "{cni_dir}"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      SystemdCgroup = false
      Root = "{RUN_DIR / "runc"}"
"""


def _cni_config() -> dict[str, object]:
    """Bridge on kasynq0 without gateway or masquerade: pods get no default route, only the
    pod and service ranges (`isGateway: true` would set the global ip_forward, blocker 7)."""
    return {
        "cniVersion": "1.0.0",
        "name": "kasynq",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(STATE_DIR / "cni-ipam"),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": SERVICE_CIDR, "gw": NODE_IP}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def _kubelet_config(pki_dir: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,  # a cgroup v1 host; 1.35 refuses v1 by default (blocker 2)
        "cgroupDriver": "cgroupfs",  # no systemd
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "address": NODE_IP,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "tlsCertFile": str(pki_dir / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki_dir / "kubelet-serving.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [DNS_IP],
        "clusterDomain": "cluster.local",
        "podLogsDir": str(STATE_DIR / "pod-logs"),
        # Our images cannot be pulled again: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "syncFrequency": "5s",
        "nodeStatusUpdateFrequency": "2s",
    }
