"""What the real node changes on the machine, recorded at `up` and put back at `down`.

`up` writes the machine's state (sysctls, netfilter rules, chains and nft tables, paths the
node's components create outside its own directories) to a file before touching anything;
`restore` puts it back from that file and also works after a crash of the process that ran
`up`. `snapshot` is what the tests compare before `up` and after `down`.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

STATE_DIR = Path("/var/lib/kasynq-realnode")
RUN_DIR = Path("/run/kasynq-realnode")
FOUND_FILE = Path("/var/lib/kasynq-realnode-found.json")
BRIDGE = "kasynq0"
CGROUP_ROOT = Path("/sys/fs/cgroup")
POD_CGROUP = "kubepods"
# kubelet rewrites the first six on start (the recipe's blocker 8); kube-proxy and the CNI
# bridge plugin may touch the rest.
SYSCTLS = (
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
)
# Created by kubelet, containerd and the CNI plugins whatever their flags (blocker 9).
OUTSIDE_PATHS = (
    "/var/lib/kubelet",
    "/var/log/pods",
    "/var/log/containers",
    "/run/containerd",
    "/var/lib/cni",
    "/run/netns",
    "/etc/cni",
)
IPTABLES = ("iptables", "ip6tables")
NFT_FAMILIES = ("ip", "ip6", "inet")


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    """The current value of each of `SYSCTLS` that this kernel has."""
    values = {}
    for key in SYSCTLS:
        path = _sysctl_path(key)
        if path.exists():
            values[key] = path.read_text().strip()
    return values


def _run(*command: str) -> str:
    """Run a command that must succeed; return its stdout."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed: {result.stderr.strip()}")
    return result.stdout


def iptables_rules(tool: str) -> dict[str, list[str]]:
    """Per table, its chain declarations and rules as `<tool>-save` prints them (no counters)."""
    if shutil.which(f"{tool}-save") is None:
        return {}
    tables: dict[str, list[str]] = {}
    current = ""
    for line in _run(f"{tool}-save").splitlines():
        if line.startswith("*"):
            current = line[1:]
            tables[current] = []
        elif line.startswith((":", "-A")):
            tables[current].append(line.split(" [")[0] if line.startswith(":") else line)
    return tables


def nft_tables() -> list[str]:
    """`family name` of every nft table (iptables-nft creates them on first use)."""
    if shutil.which("nft") is None:
        return []
    return sorted(
        " ".join(line.split()[1:3])
        for line in _run("nft", "list", "tables").splitlines()
        if line.startswith("table ")
    )


def links() -> list[str]:
    """Names of the network interfaces in this namespace."""
    return sorted(os.listdir("/sys/class/net"))


def mounts_under(*roots: str) -> list[str]:
    """Mount points at or below any of `roots`, deepest first."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == root or point.startswith(root.rstrip("/") + "/") for root in roots):
            points.append(point)
    return sorted(points, key=lambda p: p.count("/"), reverse=True)


def pod_cgroups() -> list[Path]:
    """The `kubepods` cgroup of every hierarchy that has one."""
    return sorted(p for p in CGROUP_ROOT.glob(f"*/{POD_CGROUP}") if p.is_dir())


@dataclass
class HostState:
    """The machine as the real node found it (and as `down` must leave it)."""

    sysctls: dict[str, str] = field(default_factory=dict)
    iptables: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    nft_tables: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    pod_cgroups: list[str] = field(default_factory=list)

    def differences(self, other: HostState) -> list[str]:
        """One line per field where `other` differs from this state."""
        mine, theirs = asdict(self), asdict(other)
        return [
            f"{key}: {mine[key]!r} != {theirs[key]!r}" for key in mine if mine[key] != theirs[key]
        ]


def snapshot() -> HostState:
    """The parts of the machine the real node touches, as they are now."""
    return HostState(
        sysctls=read_sysctls(),
        iptables={tool: iptables_rules(tool) for tool in IPTABLES},
        nft_tables=nft_tables(),
        links=links(),
        paths=[p for p in (*OUTSIDE_PATHS, str(STATE_DIR), str(RUN_DIR)) if os.path.lexists(p)],
        mounts=mounts_under(str(STATE_DIR), str(RUN_DIR), *OUTSIDE_PATHS),
        pod_cgroups=[str(p) for p in pod_cgroups()],
    )


def record() -> HostState:
    """Save the current state to `FOUND_FILE` (before `up` changes anything) and return it."""
    state = snapshot()
    FOUND_FILE.write_text(json.dumps(asdict(state), indent=1))
    log.info("realnode recorded the host state file=%s", FOUND_FILE)
    return state


def recorded() -> HostState | None:
    """The state `record` saved, or None when no node is up (or `restore` finished)."""
    if not FOUND_FILE.exists():
        return None
    return HostState(**json.loads(FOUND_FILE.read_text()))


def kill_pids(pids: set[int], what: str) -> None:
    """SIGKILL processes the node started (by id) and wait until they are gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = {pid for pid in pids if Path(f"/proc/{pid}").exists()}
        time.sleep(0.05)
    if pids:
        log.warning("realnode processes still alive what=%s pids=%s", what, sorted(pids))


def _cgroup_pids(root: Path) -> set[int]:
    pids: set[int] = set()
    for procs in root.rglob("cgroup.procs"):
        pids.update(int(line) for line in procs.read_text().split())
    return pids


def processes_of(binary_dir: Path) -> set[int]:
    """Ids of running processes whose executable lies in `binary_dir` (the node's binaries:
    containerd's shims outlive containerd, in their own sessions)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        if Path(exe).parent == binary_dir:
            found.add(int(entry.name))
    return found


def remove_pod_cgroups(found: HostState) -> None:
    """Kill what still runs in the pods' cgroups (the containers) and remove the cgroups."""
    new = [p for p in pod_cgroups() if str(p) not in found.pod_cgroups]
    pids = set().union(*(_cgroup_pids(p) for p in new)) if new else set()
    if pids:
        kill_pids(pids, "containers")
    for top in new:
        for directory, _subdirs, _files in sorted(os.walk(top), key=lambda w: -w[0].count("/")):
            try:
                os.rmdir(directory)
            except OSError as exc:
                log.warning("realnode could not remove cgroup path=%s error=%s", directory, exc)


def unmount_all(found: HostState) -> None:
    """Unmount what the node mounted (container rootfs, volumes, netns), deepest first."""
    for point in mounts_under(str(STATE_DIR), str(RUN_DIR), *OUTSIDE_PATHS):
        if point in found.mounts:
            continue
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)


def _restore_iptables(found: HostState) -> None:
    for tool in IPTABLES:
        before = found.iptables.get(tool, {})
        for table, lines in iptables_rules(tool).items():
            kept = set(before.get(table, []))
            for line in lines:
                if line.startswith("-A") and line not in kept:
                    subprocess.run(
                        [tool, "-w", "-t", table, "-D", *shlex.split(line)[1:]],
                        capture_output=True,
                    )
            for line in lines:
                chain = line[1:].split()[0]
                if line.startswith(":") and line not in kept and line.split()[1] == "-":
                    subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
            for line in lines:
                chain = line[1:].split()[0]
                if line.startswith(":") and line not in kept and line.split()[1] == "-":
                    subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)
    for table in nft_tables():
        if table not in found.nft_tables and table.split()[0] in NFT_FAMILIES:
            subprocess.run(["nft", "delete", "table", *table.split()], capture_output=True)


def restore(node_bin: Path | None) -> None:
    """Put the machine back as `record` found it; idempotent, a no-op when nothing is
    recorded. Call after the node's own processes were stopped."""
    found = recorded()
    if found is None:
        return
    if node_bin is not None:
        shims = processes_of(node_bin)
        if shims:
            kill_pids(shims, "node binaries")
    remove_pod_cgroups(found)
    unmount_all(found)
    if BRIDGE in links() and BRIDGE not in found.links:
        # The pods' veths: the kernel frees a netns (and its veth pair) asynchronously, so
        # delete the bridge's ports ourselves, then wait until every link of ours is gone.
        ports = Path("/sys/class/net") / BRIDGE / "brif"
        for port in sorted(os.listdir(ports)) if ports.is_dir() else []:
            subprocess.run(["ip", "link", "delete", port], capture_output=True)
        _run("ip", "link", "delete", BRIDGE)
        deadline = time.monotonic() + 15
        while set(links()) - set(found.links) and time.monotonic() < deadline:
            time.sleep(0.1)
    _restore_iptables(found)
    for key, value in found.sysctls.items():
        path = _sysctl_path(key)
        if path.exists() and path.read_text().strip() != value:
            log.info("realnode restoring sysctl key=%s value=%s", key, value)
            path.write_text(value + "\n")
    for created in OUTSIDE_PATHS:
        if created not in found.paths and os.path.lexists(created):
            shutil.rmtree(created, ignore_errors=True)
    # The node's own directories go whatever was found (a crashed run may have left them).
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    left = found.differences(snapshot())
    if left:
        log.warning("realnode could not restore everything: %s", "; ".join(left))
    else:
        FOUND_FILE.unlink()
        log.info("realnode restored the host state")
