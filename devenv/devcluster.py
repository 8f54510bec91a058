"""A real, local Kubernetes control plane for tests and the demo: no Docker, no kubelet.

etcd, kube-apiserver and kube-controller-manager (built by `hack/k8s/build.sh`) run as child
processes on free loopback ports, with certificates made by the `openssl` CLI and an admin
kubeconfig. The controller-manager runs the deployment, replicaset, garbage-collector,
namespace and service-account controllers, so Deployments produce ReplicaSets and Pods
(which stay Pending: nothing schedules or runs them) and owned objects are collected.

Everything lives in one temporary directory that `stop()` removes; children also get SIGKILL
if the starting process dies, so an aborted test run leaves no etcd behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

import yaml

from devenv.processes import WaitTimeout, free_port, spawn_child, wait_until

log = logging.getLogger(__name__)

BUILD_SCRIPT = Path(__file__).resolve().parents[1] / "hack" / "k8s" / "build.sh"
BIN_DIR_ENV = "KASYNQ_K8S_BIN"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
CERT_VALID_DAYS = "7"
ADMIN_USER = "kasynq-admin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
CONTROLLERS = (
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "root-ca-certificate-publisher-controller",
)


class DevClusterError(RuntimeError):
    """The control plane could not be built or started."""


def binaries_built() -> bool:
    """Whether `build_binaries()` would return at once (no cold build ahead)."""
    if os.environ.get(BIN_DIR_ENV):
        return True
    if shutil.which("go") is None:
        return False
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--bin-dir"], capture_output=True, text=True, check=True
    )
    bin_dir = Path(result.stdout.strip())
    return all((bin_dir / name).is_file() for name in BINARIES)


def build_binaries() -> Path:
    """Build the control-plane binaries if missing (slow only the first time); return their dir.

    `KASYNQ_K8S_BIN` names a ready directory instead, e.g. where the source tree is absent.
    """
    preset = os.environ.get(BIN_DIR_ENV)
    if preset:
        return Path(preset)
    if shutil.which("go") is None:
        raise DevClusterError("the Go toolchain is needed to build the control plane: install Go")
    # The script's progress lines go to stderr and reach the terminal as they come; the bin
    # directory is its last line of stdout.
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        raise DevClusterError(f"{BUILD_SCRIPT} failed with exit {result.returncode} (see above)")
    return Path(result.stdout.strip().splitlines()[-1])


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DevClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


class Pki:
    """One CA signing the apiserver's serving certificate and the admin client certificate,
    plus the service-account token signing key. Short-lived (7 days) and throwaway."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_cert = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"
        self.sa_key = self.dir / "sa.key"
        self.sa_pub = self.dir / "sa.pub"

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", CERT_VALID_DAYS,
            "-subj", "/CN=kasynq-devcluster-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            cwd=self.dir,
        )  # fmt: skip
        _openssl("genpkey", "-algorithm", "RSA", "-out", "sa.key", cwd=self.dir)
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=self.dir)

    def leaf(self, name: str) -> tuple[Path, Path]:
        """Paths of the certificate and key that `issue(name, ...)` writes."""
        return self.dir / f"{name}.crt", self.dir / f"{name}.key"

    def issue(self, name: str, subject: str, extensions: Sequence[str]) -> None:
        """Write a leaf certificate `<name>.crt`/`<name>.key` signed by the CA."""
        ext_file = self.dir / f"{name}.ext"
        ext_file.write_text("\n".join(extensions) + "\n")
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
            cwd=self.dir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", CERT_VALID_DAYS, "-extfile", ext_file.name,
            "-out", f"{name}.crt",
            cwd=self.dir,
        )  # fmt: skip


class DevCluster:
    """etcd + kube-apiserver + kube-controller-manager on loopback; a context manager.

    `kubeconfig` is an admin (system:masters) kubeconfig; `bin_dir` also holds kubectl and helm.
    The real node (`devenv.realnode`) passes its fixed address, ports and extra flags, and
    starts its own components through `spawn` and `wait_ready` so `stop` stops them too.
    """

    def __init__(
        self,
        bin_dir: Path,
        workdir: Path | None = None,
        *,
        address: str = "127.0.0.1",
        api_port: int | None = None,
        etcd_port: int | None = None,
        # /16: a /24 ran out at about 250 Services (one per pool; the 1,000-pool bench)
        service_cidr: str = "10.0.0.0/16",
        controllers: Sequence[str] = CONTROLLERS,
        apiserver_args: Sequence[str] = (),
        apiserver_sans: Sequence[str] = (),
        controller_args: Sequence[str] = (),
        authorization_mode: str = "RBAC",
    ) -> None:
        self.bin_dir = bin_dir
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="kasynq-kube-"))
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.address = address
        self.api_port = api_port or free_port()
        self.server = f"https://{address}:{self.api_port}"
        # A fixed client port brings its peer port (+1); free ones are picked independently.
        self._etcd_peer_port = etcd_port + 1 if etcd_port else free_port()
        self.etcd_url = f"http://127.0.0.1:{etcd_port or free_port()}"
        self._service_cidr = service_cidr
        self._controllers = controllers
        self._apiserver_args = tuple(apiserver_args)
        self._apiserver_sans = tuple(apiserver_sans)
        self._controller_args = tuple(controller_args)
        self._authorization_mode = authorization_mode
        self.pki = Pki(self.workdir / "pki")
        self.serving_cert, self.serving_key = self.pki.leaf("apiserver")
        self.admin_cert, self.admin_key = self.pki.leaf("admin")
        self._processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> DevCluster:
        """Start all three components and wait until each is serving; stop all on failure."""
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._write_credentials()
            self._start_etcd()
            self._start_apiserver()
            self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        log.info(
            "devcluster started server=%s kubeconfig=%s seconds=%.1f",
            self.server,
            self.kubeconfig,
            time.monotonic() - started,
        )
        return self

    def stop(self) -> None:
        """Stop the children in reverse start order (TERM, then KILL) and remove the files."""
        for name, process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    log.warning("devcluster component did not stop, killing name=%s", name)
                    process.kill()
                    process.wait()
        self._processes.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; the caller checks the return code."""
        return subprocess.run(
            [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def _write_credentials(self) -> None:
        self.pki.create()
        self.pki.issue(
            "apiserver",
            "/CN=localhost",
            [
                "basicConstraints=CA:FALSE",
                "keyUsage=critical,digitalSignature",
                "extendedKeyUsage=serverAuth",
                "subjectAltName="
                + ",".join(("DNS:localhost", "IP:127.0.0.1", *self._apiserver_sans)),
            ],
        )
        self.pki.issue(
            "admin",
            f"/O=system:masters/CN={ADMIN_USER}",
            ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
             "extendedKeyUsage=clientAuth"],
        )  # fmt: skip
        self.write_kubeconfig(self.kubeconfig, ADMIN_USER, "admin")

    def write_kubeconfig(self, path: Path, user: str, leaf: str) -> None:
        """A kubeconfig for `user` with the client certificate `pki.issue(leaf, ...)` wrote."""
        cert, key = self.pki.leaf(leaf)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kasynq-dev",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self.pki.ca_cert),
                    },
                }
            ],
            "users": [
                {"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}
            ],
            "contexts": [
                {"name": "kasynq-dev", "context": {"cluster": "kasynq-dev", "user": user}}
            ],
            "current-context": "kasynq-dev",
        }
        path.write_text(yaml.safe_dump(config))

    def spawn(
        self,
        name: str,
        args: Sequence[str],
        binary: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a component (logging to `<workdir>/<name>.log`) that `stop` stops."""
        executable = binary or self.bin_dir / name
        process = spawn_child([str(executable), *args], self.workdir / f"{name}.log", env)
        self._processes.append((name, process))
        return process

    def wait_ready(
        self, name: str, process: subprocess.Popen[bytes], ready: Callable[[], bool]
    ) -> None:
        """Wait until `ready()`; fail with the tail of the component's log if it exits."""
        try:
            wait_until(
                ready,
                f"{name} to be ready",
                START_TIMEOUT_SECONDS,
                interval=0.1,
                process=process,
                tolerate=(OSError, urllib.error.URLError),
            )
        except WaitTimeout as exc:
            raise DevClusterError(f"{exc}: {self._tail(name)}") from None

    def _tail(self, name: str) -> str:
        log_path = self.workdir / f"{name}.log"
        return log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""

    def _start_etcd(self) -> None:
        client_url = self.etcd_url
        peer_url = f"http://127.0.0.1:{self._etcd_peer_port}"
        process = self.spawn(
            "etcd",
            [
                "--name=devcluster",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=devcluster={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client_url}/health", timeout=2) as response:
                return b'"health":"true"' in response.read()

        self.wait_ready("etcd", process, healthy)

    def _start_apiserver(self) -> None:
        process = self.spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={self.etcd_url}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={self.serving_cert}",
                f"--tls-private-key-file={self.serving_key}",
                f"--client-ca-file={self.pki.ca_cert}",
                f"--service-account-issuer={self.server}",
                f"--service-account-key-file={self.pki.sa_pub}",
                f"--service-account-signing-key-file={self.pki.sa_key}",
                f"--authorization-mode={self._authorization_mode}",
                f"--service-cluster-ip-range={self._service_cidr}",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=0",
                *self._apiserver_args,
            ],
        )
        self.wait_ready("kube-apiserver", process, lambda: self._api_ok("/readyz"))

    def _start_controller_manager(self) -> None:
        process = self.spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                f"--controllers={','.join(self._controllers)}",
                f"--service-account-private-key-file={self.pki.sa_key}",
                f"--root-ca-file={self.pki.ca_cert}",
                "--secure-port=0",
                "--concurrent-gc-syncs=5",
                "--v=0",
                *self._controller_args,
            ],
        )
        # The serviceaccount controller creates "default" in every namespace: once it exists
        # in "default", the controllers are running (Pods need it to pass admission).
        self.wait_ready(
            "kube-controller-manager",
            process,
            lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
        )

    def _api_ok(self, path: str) -> bool:
        """GET `path` as admin; True on 200, False on an HTTP error status."""
        context = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        context.load_cert_chain(str(self.admin_cert), str(self.admin_key))
        try:
            with urllib.request.urlopen(self.server + path, timeout=2, context=context) as reply:
                return bool(reply.status == 200)
        except urllib.error.HTTPError:
            return False


def main() -> None:
    """Run a dev cluster until interrupted (`python -m devenv.devcluster`)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with DevCluster(build_binaries()) as cluster:
        log.info("devcluster ready: export KUBECONFIG=%s (Ctrl-C stops it)", cluster.kubeconfig)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        finally:
            log.info("devcluster stopping")


if __name__ == "__main__":
    main()
