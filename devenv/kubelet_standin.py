"""A local kubelet stand-in for the dev cluster: runs each worker Pod as a `kasynq worker` process.

The dev cluster (`devcluster`) has no scheduler and no kubelet, so the pool's Pods stay Pending.
`KubeletStandIn` lists the Pods of one namespace and, for each new one, starts the real
`kasynq worker` with the Pod's environment (`HOSTNAME` = pod name, Secret and ConfigMap values
resolved through the API), its ConfigMap volumes written to a local directory, and a free
loopback port for /readyz. When /readyz answers it marks the Pod Running and Ready, so the
ReplicaSet, the Deployment and the operator see it as a kubelet would report it. A Pod marked
for deletion gets SIGTERM; once its process exited the Pod is removed (grace period 0).

Only what worker Pods use is supported: env values, fieldRef metadata.name/namespace,
secretKeyRef, configMapKeyRef, and ConfigMap/Secret volumes. The container image is ignored:
every Pod runs `kasynq worker` from this virtualenv, with `extra_pythonpath` for handler
modules. A worker that exits on its own is not restarted (a crash loop would hide the cause):
its Pod turns not-ready and its log stays in `workdir/<pod>/worker.log`.
"""

from __future__ import annotations

import base64
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from devenv.processes import free_port, spawn_child

log = logging.getLogger(__name__)

POLL_SECONDS = 0.3
STOP_TIMEOUT_SECONDS = 30.0
NOT_FOUND = 404
CONFLICT = 409
NODE_NAME = "kasynq-local"
KASYNQ = Path(sys.executable).with_name("kasynq")


class PodSpecError(ValueError):
    """A Pod uses something the stand-in cannot run; the message names the field."""


@dataclass
class LocalPod:
    """One Pod's local process and what the stand-in knows about it."""

    name: str
    uid: str
    process: subprocess.Popen[bytes]
    http_port: int
    directory: Path
    started: float
    ready: bool = False
    crashed: bool = False
    terminating_since: float | None = None


@dataclass(frozen=True)
class PodEvent:
    """Something that happened to a Pod, for the demo's summary and the e2e test."""

    time: float
    pod: str
    kind: str
    """"started", "ready", "terminating", "exited" or "removed"."""
    detail: Mapping[str, Any] = field(default_factory=dict)


OnTerminating = Callable[[str], Mapping[str, Any]]
"""Called with a pod name when its deletion is seen; what it returns is recorded as detail."""


class KubeletStandIn:
    """Runs the Pods of `namespace` matching `selector` as local `kasynq worker` processes."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        workdir: Path,
        *,
        selector: str = "",
        extra_pythonpath: Sequence[Path] = (),
        on_terminating: OnTerminating | None = None,
        log_level: str = "WARNING",
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.workdir = workdir
        self.selector = selector
        self.extra_pythonpath = [str(path) for path in extra_pythonpath]
        self.on_terminating = on_terminating
        self.log_level = log_level
        self.pods: dict[str, LocalPod] = {}
        self.events: list[PodEvent] = []
        self._failed: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> KubeletStandIn:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._register_node()
        self._thread = threading.Thread(target=self._run, name="kubelet-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching; the watching thread stops every worker (see `_stop_workers`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS + 15)

    def _stop_workers(self) -> None:
        """SIGTERM every worker and wait for them (SIGKILL after STOP_TIMEOUT_SECONDS).

        Runs on the thread that started them: their parent-death signal fires when that
        thread ends, so it must outlive them.
        """
        with self._lock:
            pods = list(self.pods.values())
        for pod in pods:
            if pod.process.poll() is None:
                pod.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for pod in pods:
            try:
                pod.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker did not stop, killing pod=%s", pod.name)
                pod.process.kill()
                pod.process.wait()

    def __enter__(self) -> KubeletStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def running(self) -> list[str]:
        """Names of Pods whose worker process is alive."""
        with self._lock:
            return sorted(name for name, pod in self.pods.items() if pod.process.poll() is None)

    def crashed(self) -> list[Path]:
        """Logs of workers that exited on their own."""
        with self._lock:
            return [pod.directory / "worker.log" for pod in self.pods.values() if pod.crashed]

    def failure(self) -> str | None:
        """What went wrong when a worker exited on its own (the end of its log), else None."""
        crashed = self.crashed()
        if not crashed:
            return None
        tail = crashed[0].read_text(errors="replace")[-2000:]
        return f"a worker exited unexpectedly; {crashed[0]} ends with:\n{tail}"

    def serving(self) -> list[str]:
        """Names of Pods whose worker is alive and not being stopped."""
        with self._lock:
            return sorted(
                name
                for name, pod in self.pods.items()
                if pod.process.poll() is None and pod.terminating_since is None
            )

    def _record(self, pod: str, kind: str, detail: Mapping[str, Any] | None = None) -> None:
        self.events.append(PodEvent(time.monotonic(), pod, kind, dict(detail or {})))
        details = " ".join(f"{key}={value}" for key, value in (detail or {}).items())
        log.info("pod %s pod=%s %s", kind, pod, details)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.sync_once()
                except Exception:
                    log.exception("kubelet stand-in sync failed namespace=%s", self.namespace)
                self._stop.wait(POLL_SECONDS)
        finally:
            self._stop_workers()

    def sync_once(self) -> None:
        """One pass: start new Pods, report readiness, carry out deletions."""
        listed: list[Any] = self.core.list_namespaced_pod(
            self.namespace, label_selector=self.selector
        ).items
        seen: set[str] = set()
        for pod in listed:
            name = pod.metadata.name
            seen.add(name)
            local = self.pods.get(name)
            if local is not None and local.uid != pod.metadata.uid:
                continue  # an old incarnation is still being cleaned up
            if pod.metadata.deletion_timestamp is not None:
                self._terminate(pod, local)
            elif local is None and name not in self._failed:
                self._launch(pod)
            elif local is not None and local.process.poll() is not None:
                if not local.crashed:
                    self._crashed(local)
            elif local is not None and not local.ready:
                self._check_ready(local)
        for name in set(self.pods) - seen:
            self._forget(name, "removed")

    def _register_node(self) -> None:
        """The Node our Pods are bound to (a Pod without a node is deleted at once, with no
        grace period, so the stand-in could not stop its worker gracefully)."""
        node = client.V1Node(
            metadata=client.V1ObjectMeta(
                name=NODE_NAME, labels={"kubernetes.io/hostname": NODE_NAME}
            )
        )
        try:
            self.core.create_node(node)
        except ApiException as exc:
            if exc.status != CONFLICT:
                raise

    def _bind(self, pod: Any) -> None:
        """What the scheduler does: bind the Pod to our Node."""
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod.metadata.name),
            target=client.V1ObjectReference(api_version="v1", kind="Node", name=NODE_NAME),
        )
        # The generated client cannot parse the Status this call returns: skip parsing.
        self.core.create_namespaced_pod_binding(
            pod.metadata.name, self.namespace, binding, _preload_content=False
        )

    def _launch(self, pod: Any) -> None:
        name = pod.metadata.name
        directory = self.workdir / name
        try:
            if not pod.spec.node_name:
                self._bind(pod)
            env, args = self._container_setup(pod, directory)
        except (PodSpecError, ApiException) as exc:
            log.error("cannot run pod=%s: %s", name, exc)
            self._failed.add(name)
            return
        http_port = free_port()
        command = [str(KASYNQ), "worker", *args, "--http-port", str(http_port)]
        command += ["--log-level", self.log_level]
        process = spawn_child(command, directory / "worker.log", env)
        with self._lock:
            self.pods[name] = LocalPod(
                name, pod.metadata.uid, process, http_port, directory, time.monotonic()
            )
        self._record(name, "started", {"pid": process.pid, "port": http_port})

    def _container_setup(self, pod: Any, directory: Path) -> tuple[dict[str, str], list[str]]:
        """The environment and arguments of the Pod's (single) container, run locally."""
        container = pod.spec.containers[0]
        directory.mkdir(parents=True, exist_ok=True)
        mounts = self._materialize_volumes(pod, container, directory)
        env = {
            key: value
            for key, value in os.environ.items()
            if key in ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
        }
        for item in container.env or []:
            env[item.name] = self._env_value(pod, item)
        env["PYTHONPATH"] = os.pathsep.join(
            [*self.extra_pythonpath, *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        args = [self._local_path(str(arg), mounts) for arg in (container.args or [])]
        return env, args

    def _materialize_volumes(self, pod: Any, container: Any, directory: Path) -> dict[str, Path]:
        """Write each mounted ConfigMap/Secret volume to `directory`; mount path -> local dir."""
        volumes = {volume.name: volume for volume in pod.spec.volumes or []}
        mounts: dict[str, Path] = {}
        for mount in container.volume_mounts or []:
            volume = volumes.get(mount.name)
            if volume is None:
                continue
            if volume.config_map is not None:
                data = self._configmap(volume.config_map.name)
            elif volume.secret is not None:
                data = {
                    key: value.decode()
                    for key, value in self._secret(volume.secret.secret_name).items()
                }
            else:
                continue
            local = directory / "volumes" / mount.name
            local.mkdir(parents=True, exist_ok=True)
            source_items = (volume.config_map or volume.secret).items
            paths = {item.key: item.path for item in source_items} if source_items else None
            for key, value in data.items():
                if paths is None or key in paths:
                    (local / (paths[key] if paths else key)).write_text(value)
            mounts[mount.mount_path.rstrip("/")] = local
        return mounts

    @staticmethod
    def _local_path(arg: str, mounts: Mapping[str, Path]) -> str:
        for mount_path, local in sorted(mounts.items(), key=lambda item: -len(item[0])):
            if arg == mount_path or arg.startswith(mount_path + "/"):
                return str(local) + arg[len(mount_path) :]
        return arg

    def _env_value(self, pod: Any, item: Any) -> str:
        if item.value_from is None:
            return str(item.value or "")
        source = item.value_from
        if source.field_ref is not None:
            fields = {"metadata.name": pod.metadata.name, "metadata.namespace": self.namespace}
            path = source.field_ref.field_path
            if path not in fields:
                raise PodSpecError(f"env {item.name}: fieldRef {path!r} is not supported")
            return str(fields[path])
        if source.secret_key_ref is not None:
            ref = source.secret_key_ref
            return self._secret(ref.name)[ref.key].decode()
        if source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            return self._configmap(ref.name)[ref.key]
        raise PodSpecError(f"env {item.name}: this valueFrom is not supported")

    def _secret(self, name: str) -> dict[str, bytes]:
        secret = self.core.read_namespaced_secret(name, self.namespace)
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    def _configmap(self, name: str) -> dict[str, str]:
        return dict(self.core.read_namespaced_config_map(name, self.namespace).data or {})

    def _check_ready(self, local: LocalPod) -> None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{local.http_port}/readyz", timeout=1
            ) as reply:
                if reply.status != 200:
                    return
        except (OSError, urllib.error.URLError):
            return
        self._report_status(local, ready=True)
        local.ready = True
        self._record(local.name, "ready", {"seconds": round(time.monotonic() - local.started, 2)})

    def _report_status(self, local: LocalPod, *, ready: bool) -> None:
        """What a kubelet reports for a running container: phase, conditions, container state."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        flag = "True" if ready else "False"
        status = {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": now,
            "conditions": [
                {"type": kind, "status": flag, "lastTransitionTime": now}
                for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],
            "containerStatuses": [
                {
                    "name": "worker",
                    "image": "kasynq-worker:local",
                    "imageID": "",
                    "ready": ready,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        }
        self.core.patch_namespaced_pod_status(local.name, self.namespace, {"status": status})

    def _terminate(self, pod: Any, local: LocalPod | None) -> None:
        name = pod.metadata.name
        if local is None:
            self._delete_now(name)
            return
        if local.terminating_since is None:
            local.terminating_since = time.monotonic()
            detail = self.on_terminating(name) if self.on_terminating else {}
            self._record(name, "terminating", detail)
            if local.process.poll() is None:
                local.process.send_signal(signal.SIGTERM)
        grace = pod.metadata.deletion_grace_period_seconds or 30
        if local.process.poll() is None:
            if time.monotonic() - local.terminating_since > grace:
                log.warning("grace period over, killing pod=%s", name)
                local.process.kill()
            return
        self._record(name, "exited", {"code": local.process.returncode})
        self._delete_now(name)
        self._forget(name, "removed")

    def _delete_now(self, name: str) -> None:
        try:
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != NOT_FOUND:
                raise

    def _crashed(self, local: LocalPod) -> None:
        """The worker exited on its own: record it and report the Pod not ready."""
        local.crashed = True
        self._record(local.name, "exited", {"code": local.process.returncode})
        log.error(
            "worker exited unexpectedly pod=%s code=%s log=%s",
            local.name,
            local.process.returncode,
            local.directory / "worker.log",
        )
        self._report_status(local, ready=False)

    def _forget(self, name: str, kind: str) -> None:
        with self._lock:
            local = self.pods.pop(name, None)
        if local is None:
            return
        if local.process.poll() is None:
            local.process.kill()
            local.process.wait()
        self._record(name, kind)
