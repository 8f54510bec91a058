"""The Helm chart: lint, schema, CRDs, rendering, install, and least-privilege RBAC.

RBAC is checked twice: with `kubectl auth can-i` impersonating the chart's ServiceAccount, and by
running the operator with a token of that ServiceAccount and watching it reconcile a pool.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kasynq_operator.webhook import PATH, start_webhook
from kubernetes import client

from devenv.processes import free_port
from devenv.redis_servers import RedisServer
from tests.fixtures.kube import REPO, Kube, project_crd_files, wait_for
from tests.operator.test_crds import create, pool

CHART = REPO / "helm" / "kasynq"
WEB = [
    "--set", "web.enabled=true",
    "--set", "web.redis.existingSecret=redis",
    "--set", "web.auth.existingSecret=web-auth",
]  # fmt: skip
"""The web console on, with the two Secrets it needs (token auth, the default)."""
OPERATOR = Path(sys.executable).with_name("kasynq-operator")


def _helm_run(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )


def _helm(bin_dir: Path, *args: str) -> str:
    result = _helm_run(bin_dir, *args)
    if result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def test_chart_crds_are_the_project_crds() -> None:
    chart_crds = {path.name: path.read_text() for path in (CHART / "crds").glob("*.yaml")}
    assert chart_crds == {path.name: path.read_text() for path in project_crd_files()}


@pytest.mark.requires_kube
def test_packaged_chart_carries_the_crds(kube_bin_dir: Path, tmp_path: Path) -> None:
    """`helm/kasynq/crds` is a symlink to `crds/`: `helm package` must follow it."""
    _helm(kube_bin_dir, "package", str(CHART), "--destination", str(tmp_path))
    (archive,) = tmp_path.glob("kasynq-*.tgz")
    with tarfile.open(archive) as tar:
        packaged = {
            Path(member.name).name: tar.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in tar.getmembers()
            if member.name.startswith("kasynq/crds/") and member.isfile()
        }
    assert packaged == {path.name: path.read_text() for path in project_crd_files()}


@pytest.mark.requires_kube
@pytest.mark.parametrize(
    "values",
    [
        [],
        ["--set", "watchNamespaces={team-a,team-b}"],
        [*WEB, "--set", "web.kube=true", "--set", "web.ingress.enabled=true"],
        [*WEB, "--set", "web.kube=true", "--set", "watchNamespaces={team-a}"],
    ],
)
def test_helm_lint_passes(kube_bin_dir: Path, values: list[str]) -> None:
    output = _helm(kube_bin_dir, "lint", "--strict", str(CHART), *values)
    assert "0 chart(s) failed" in output


@pytest.mark.requires_kube
@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["--set", "logLevel=loud"], "at '/logLevel': value must be one of"),
        (["--set", "watchNamespaces={Team_A}"], "'Team_A' does not match pattern"),
        (["--set", "metricsPort=0"], "at '/metricsPort': minimum: got 0, want 1"),
        (["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"),
        (["--set", "replicaCount=2"], "additional properties 'replicaCount' not allowed"),
        (["--set", "metrics.serviceMonitor.interval=often"], "serviceMonitor/interval"),
        (["--set", "webhook.port=8080"], "webhook.port 8080 must differ from metricsPort"),
        (["--set", "webhook.enable=true"], "additional properties 'enable' not allowed"),
        (["--set", "imagePullSecrets[0].nam=x"], "missing property 'name'"),
        (
            ["--set", "workerPodTemplate.allowedFields={securityContext}"],
            "at '/workerPodTemplate/allowedFields/0': value must be one of",
        ),
        (["--set", "web.enabled=true"], "web.enabled needs web.redis.existingSecret"),
        (
            [
                "--set",
                "web.enabled=true",
                "--set",
                "web.redis.existingSecret=r",
                "--set",
                "web.auth.mode=basic",
            ],
            "web.auth.mode basic needs web.auth.existingSecret",
        ),
        (["--set", "web.auth.mode=none"], "at '/web/auth/mode': value must be one of"),
        (["--set", "web.auth.trustedHeader=X User"], "at '/web/auth/trustedHeader'"),
        (["--set", "web.ingress.hosts[0].paths[0].path=app"], "/web/ingress/hosts/0/paths/0/path"),
        (["--set", "web.readonly=true"], "additional properties 'readonly' not allowed"),
        (
            [
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "metrics.service.enabled=false",
            ],
            "metrics.serviceMonitor.enabled needs metrics.service.enabled",
        ),
    ],
)
def test_bad_values_fail_with_a_clear_message(
    kube_bin_dir: Path, values: list[str], message: str
) -> None:
    result = _helm_run(kube_bin_dir, "template", "kasynq", str(CHART), *values)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.requires_kube
def test_operator_pod_settings_from_values(kube_bin_dir: Path) -> None:
    """imagePullSecrets and podSecurityContext reach the operator's pod; the default pod
    security context is the one that meets Pod Security "restricted"."""

    def pod(*values: str) -> dict[str, Any]:
        rendered = _helm(kube_bin_dir, "template", "kasynq", str(CHART), *values)
        kinds = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
        spec: dict[str, Any] = kinds["Deployment"]["spec"]["template"]["spec"]
        return spec

    default = pod()
    assert "imagePullSecrets" not in default
    assert default["securityContext"]["runAsNonRoot"] is True
    custom = pod(
        "--set", "imagePullSecrets[0].name=registry",
        "--set", "podSecurityContext.fsGroup=2000",
    )  # fmt: skip
    assert custom["imagePullSecrets"] == [{"name": "registry"}]
    assert custom["securityContext"]["fsGroup"] == 2000
    assert custom["securityContext"]["runAsUser"] == 10001


@pytest.mark.requires_kube
def test_admin_allowed_pod_fields_reach_the_operator(kube_bin_dir: Path) -> None:
    def env(*values: str) -> list[dict[str, str]]:
        rendered = _helm(kube_bin_dir, "template", "kasynq", str(CHART), *values)
        kinds = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
        (container,) = kinds["Deployment"]["spec"]["template"]["spec"]["containers"]
        found: list[dict[str, str]] = container.get("env", [])
        return found

    assert env() == []
    allowed = env("--set", "workerPodTemplate.allowedFields={runtimeClassName,hostAliases}")
    assert allowed == [
        {"name": "KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS", "value": "runtimeClassName,hostAliases"}
    ]


def _rendered(bin_dir: Path, namespace: str, *values: str) -> dict[str, dict[str, Any]]:
    """The chart rendered into `namespace`: "<kind>/<name>" -> object."""
    rendered = _helm(bin_dir, "template", "kq", str(CHART), "--namespace", namespace, *values)
    return {
        f"{doc['kind']}/{doc['metadata']['name']}": doc
        for doc in yaml.safe_load_all(rendered)
        if doc
    }


async def _review(cert_dir: Path, ca_bundle: bytes, server_name: str, cron: str) -> dict[str, Any]:
    """The operator's webhook served with the certificate in `cert_dir`, asked over TLS as
    the API server asks it: the CA bundle must verify the certificate for `server_name`."""
    port = free_port()
    runner = await start_webhook(port, cert_dir, host="127.0.0.1")
    context = ssl.create_default_context(cadata=ca_bundle.decode())
    body = pool("nightly", schedules=[
        {"name": "nightly", "taskType": "report", "queue": "emails", "cron": cron}
    ])  # fmt: skip
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "u1", "namespace": "team-a", "object": body},
    }
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"https://127.0.0.1:{port}{PATH}",
                json=review,
                ssl=context,
                server_hostname=server_name,
            ) as response,
        ):
            answer: dict[str, Any] = (await response.json())["response"]
            return answer
    finally:
        await runner.cleanup()


@pytest.mark.requires_kube
@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={team-a}"]])
def test_chart_registers_the_webhook_with_a_certificate_for_its_service(
    kube_bin_dir: Path, tmp_path: Path, values: list[str]
) -> None:
    """The ValidatingWebhookConfiguration points at the webhook Service, the Service at the
    operator's webhook port, the operator serves the mounted certificate, and the CA bundle
    verifies that certificate for the Service's DNS name: a bad cron is refused."""
    objects = _rendered(kube_bin_dir, "kq-system", *values)
    (webhook,) = objects["ValidatingWebhookConfiguration/kq-kasynq"]["webhooks"]
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["sideEffects"] == "None"
    assert webhook["rules"] == [{
        "apiGroups": ["kasynq.io"], "apiVersions": ["v1alpha1"],
        "operations": ["CREATE", "UPDATE"], "resources": ["asynqworkerpools"],
    }]  # fmt: skip
    if values:
        (selector,) = webhook["namespaceSelector"]["matchExpressions"]
        assert selector["values"] == ["team-a"]
    target = webhook["clientConfig"]["service"]
    assert target["namespace"] == "kq-system" and target["path"] == PATH
    service = objects[f"Service/{target['name']}"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == target["port"]
    pod = objects["Deployment/kq-kasynq"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    assert f"--webhook-port={ports[port['targetPort']]}" in container["args"]
    (mount,) = container["volumeMounts"]
    assert f"--webhook-cert-dir={mount['mountPath']}" in container["args"]
    (volume,) = [entry for entry in pod["volumes"] if entry["name"] == mount["name"]]
    secret = objects[f"Secret/{volume['secret']['secretName']}"]
    assert secret["type"] == "kubernetes.io/tls"
    for key in ("tls.crt", "tls.key"):
        (tmp_path / key).write_bytes(base64.b64decode(secret["data"][key]))
    ca_bundle = base64.b64decode(webhook["clientConfig"]["caBundle"])
    server_name = f"{target['name']}.kq-system.svc"  # what the API server verifies
    answer = asyncio.run(_review(tmp_path, ca_bundle, server_name, "@every banana"))
    assert answer["allowed"] is False
    assert "spec.schedules[0].cron" in answer["status"]["message"]
    assert asyncio.run(_review(tmp_path, ca_bundle, server_name, "@every 5m"))["allowed"]


@pytest.mark.requires_kube
def test_webhook_can_be_disabled(kube_bin_dir: Path) -> None:
    objects = _rendered(kube_bin_dir, "kq-system", "--set", "webhook.enabled=false")
    assert not [name for name in objects if "webhook" in name.lower()]
    (container,) = objects["Deployment/kq-kasynq"]["spec"]["template"]["spec"]["containers"]
    assert not [arg for arg in container["args"] if arg.startswith("--webhook")]


@pytest.mark.requires_kube
def test_optional_objects_render(kube_bin_dir: Path) -> None:
    rendered = _helm(
        kube_bin_dir,
        "template",
        "kasynq",
        str(CHART),
        "--set",
        "metrics.serviceMonitor.enabled=true",
    )
    kinds = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
    assert kinds["ServiceMonitor"]["spec"]["endpoints"][0]["port"] == "metrics"
    services = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Service"]
    (metrics,) = [svc for svc in services if svc["metadata"]["name"] == "kasynq-metrics"]
    assert metrics["spec"]["ports"][0]["targetPort"] == "metrics"
    dashboard = kinds["ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = yaml.safe_load(dashboard["data"]["kasynq.json"])["panels"]
    titles = " ".join(panel["title"] for panel in panels)
    for topic in ("Throughput", "Failures", "Latency", "Backlog", "Replicas vs desired"):
        assert topic in titles
    deployment = kinds["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_rendered_chart_is_accepted_by_the_api_server(kube: Kube, namespace: str) -> None:
    rendered = _helm(kube.bin_dir, "template", "kasynq", str(CHART), "--namespace", namespace)
    assert "kind: Deployment" in rendered
    # The operator's Pod must meet Pod Security "restricted"; for a Deployment the API server
    # reports a violation as a warning on stderr.
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    result = kube.cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=rendered
    )
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/kasynq created (server dry run)" in result.stdout
    assert "clusterrole.rbac.authorization.k8s.io/kasynq created (server dry run)" in result.stdout
    assert "PodSecurity" not in result.stderr


@pytest.fixture
def other_namespace(kube: Kube) -> Iterator[str]:
    """A second namespace (the one a namespaced install watches)."""
    name = f"watched-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture
def install(kube: Kube, namespace: str) -> Iterator[object]:
    """`install(*values)` helm-installs the chart into the test namespace (uninstalled after);
    returns the ServiceAccount's user name."""
    release = f"kq-{uuid.uuid4().hex[:6]}"
    installed: list[str] = []

    def run(*values: str) -> str:
        _helm(
            kube.bin_dir, "install", release, str(CHART), "--namespace", namespace,
            "--kubeconfig", str(kube.kubeconfig), *values,
        )  # fmt: skip
        installed.append(release)
        return f"system:serviceaccount:{namespace}:{release}-kasynq"

    yield run
    for name in installed:
        _helm(kube.bin_dir, "uninstall", name, "--namespace", namespace,
              "--kubeconfig", str(kube.kubeconfig))  # fmt: skip


def can_i(kube: Kube, user: str, *args: str) -> bool:
    result = kube.cluster.kubectl("auth", "can-i", f"--as={user}", *args)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


NEEDED_IN_WATCHED = [
    ("watch", "asynqworkerpools.kasynq.io"),
    ("patch", "asynqworkerpools.kasynq.io", "--subresource=status"),
    ("patch", "asynqqueues.kasynq.io", "--subresource=status"),
    ("create", "deployments.apps"),
    ("patch", "deployments.apps"),
    ("create", "configmaps"),
    ("get", "secrets"),
    ("list", "pods"),
    ("patch", "pods"),
    ("create", "events"),
]
NEVER = [
    ("list", "secrets"),
    ("create", "secrets"),
    ("delete", "deployments.apps"),
    ("create", "pods"),
    ("create", "pods", "--subresource=exec"),
    ("delete", "namespaces"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("escalate", "roles.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
    ("create", "customresourcedefinitions.apiextensions.k8s.io"),
    ("*", "*"),
]


def test_cluster_wide_install_has_least_privilege(kube: Kube, install: object) -> None:
    assert callable(install)
    user = install()
    for check in NEEDED_IN_WATCHED:
        assert can_i(kube, user, *check, "--all-namespaces"), check
    assert can_i(kube, user, "watch", "customresourcedefinitions.apiextensions.k8s.io")
    for check in NEVER:
        assert not can_i(kube, user, *check, "--all-namespaces"), check


def test_namespaced_install_uses_roles_only(
    kube: Kube, namespace: str, other_namespace: str, install: object
) -> None:
    assert callable(install)
    user = install("--set", f"watchNamespaces={{{other_namespace}}}")
    cluster_wide = kube.kubectl("get", "clusterroles,clusterrolebindings", "-o", "name")
    release_objects = user.rsplit(":", 1)[1]  # the release's full name, as the ServiceAccount
    assert release_objects not in cluster_wide
    for check in NEEDED_IN_WATCHED:
        assert can_i(kube, user, *check, "-n", other_namespace), check
        assert not can_i(kube, user, *check, "-n", "default"), check
        assert not can_i(kube, user, *check, "--all-namespaces"), check
    for check in NEVER:
        assert not can_i(kube, user, *check, "-n", other_namespace), check
    assert not can_i(kube, user, "list", "namespaces")


def _token_kubeconfig(kube: Kube, user: str, path: Path) -> Path:
    """A kubeconfig authenticating with a fresh token of the ServiceAccount `user`."""
    _, _, namespace, account = user.split(":")
    token = kube.kubectl("create", "token", account, "-n", namespace).strip()
    admin = yaml.safe_load(kube.kubeconfig.read_text())
    admin["users"] = [{"name": account, "user": {"token": token}}]
    admin["contexts"][0]["context"]["user"] = account
    path.write_text(yaml.safe_dump(admin))
    return path


def test_operator_works_with_the_namespaced_service_account(
    kube: Kube,
    crds: list[str],
    other_namespace: str,
    install: object,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    """The operator, logged in as the chart's ServiceAccount (Roles only), reconciles a pool:
    its Deployment, ConfigMap and Service, and the status of the queue and the pool."""
    assert callable(install) and crds
    user = install("--set", f"watchNamespaces={{{other_namespace}}}")
    kubeconfig = _token_kubeconfig(kube, user, tmp_path / "operator.kubeconfig")
    core = client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(
        other_namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="redis"), string_data={"url": redis_server.url}
        ),
    )
    for manifest in ("queue.yaml", "pool.yaml"):
        kube.kubectl("apply", "-n", other_namespace, "-f", str(REPO / "examples" / manifest))
    log_path = tmp_path / "operator.log"
    command = [str(OPERATOR), "-n", other_namespace, "--metrics-port", "0"]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        apps = client.AppsV1Api(kube.api_client)
        custom = client.CustomObjectsApi(kube.api_client)

        def reconciled() -> bool:
            assert process.poll() is None, log_path.read_text()
            pool = custom.get_namespaced_custom_object(
                "kasynq.io", "v1alpha1", other_namespace, "asynqworkerpools", "demo"
            )
            queue = custom.get_namespaced_custom_object(
                "kasynq.io", "v1alpha1", other_namespace, "asynqqueues", "work"
            )
            return (
                bool(apps.list_namespaced_deployment(other_namespace).items)
                and bool(core.list_namespaced_service(other_namespace).items)
                and pool.get("status", {}).get("desiredReplicas") is not None
                and "redisName" in queue.get("status", {})
            )

        wait_for(reconciled, "the pool reconciled by the operator as the chart's ServiceAccount")
        refused = [
            line for line in log_path.read_text().splitlines() if "forbidden" in line.lower()
        ]
        assert not refused, refused
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        print(log_path.read_text())  # shown by pytest when the test fails


@pytest.mark.requires_kube
def test_name_overrides_rename_the_objects(kube_bin_dir: Path) -> None:
    rendered = _helm(
        kube_bin_dir, "template", "rel", str(CHART), "--set", "fullnameOverride=ops",
        "--set", "nameOverride=queues",
    )  # fmt: skip
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    deployment = next(doc for doc in docs if doc["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "ops"
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "queues-operator"
    named = _helm(kube_bin_dir, "template", "rel", str(CHART), "--set", "nameOverride=queues")
    assert "name: rel-queues\n" in named


def test_chart_installs_as_a_subchart_with_global_values(
    kube: Kube, namespace: str, crds: list[str], tmp_path: Path
) -> None:
    """A parent chart with `global:` values and kasynq as a dependency: the schema accepts
    `global`, and the release comes up with the parent's values for the subchart."""
    parent = tmp_path / "platform"
    parent.mkdir()
    chart = {
        "apiVersion": "v2",
        "name": "platform",
        "version": "1.0.0",
        "dependencies": [{"name": "kasynq", "version": "0.1.0", "repository": f"file://{CHART}"}],
    }
    (parent / "Chart.yaml").write_text(yaml.safe_dump(chart))
    values = {
        "global": {"imageRegistry": "registry.example", "team": "platform"},
        "kasynq": {"fullnameOverride": "platform-kasynq", "logLevel": "debug"},
    }
    (parent / "values.yaml").write_text(yaml.safe_dump(values))
    _helm(kube.bin_dir, "dependency", "build", str(parent))
    release = f"pl-{uuid.uuid4().hex[:6]}"
    _helm(
        kube.bin_dir, "install", release, str(parent), "--namespace", namespace,
        "--kubeconfig", str(kube.kubeconfig),
    )  # fmt: skip
    try:
        apps = client.AppsV1Api(kube.api_client)
        deployment = apps.read_namespaced_deployment("platform-kasynq", namespace)
        assert "--log-level=debug" in deployment.spec.template.spec.containers[0].args
    finally:
        _helm(kube.bin_dir, "uninstall", release, "--namespace", namespace,
              "--kubeconfig", str(kube.kubeconfig))  # fmt: skip


def test_missing_watch_namespace_does_not_fail_the_install(
    kube: Kube, other_namespace: str, install: object
) -> None:
    assert callable(install)
    missing = f"not-yet-{uuid.uuid4().hex[:6]}"
    user = install("--set", f"watchNamespaces={{{other_namespace},{missing}}}")
    assert can_i(kube, user, "patch", "deployments.apps", "-n", other_namespace)
    roles = kube.kubectl("get", "roles", "-A", "-o", "jsonpath={.items[*].metadata.namespace}")
    assert missing not in roles


def test_installed_webhook_keeps_its_certificate_and_admits_while_the_operator_is_down(
    kube: Kube, namespace: str, crds: list[str], install: object
) -> None:
    """The API server accepts the chart's webhook objects; `helm upgrade` keeps the CA and
    certificate (the running operator's certificate must keep matching the CA bundle), and
    with failurePolicy Ignore a pool is accepted while no operator answers (the operator
    refuses a bad cron when it renders the pool: test_operator)."""
    assert callable(install)
    release = install().rsplit(":", 1)[1].removesuffix("-kasynq")
    core = client.CoreV1Api(kube.api_client)
    admission = client.AdmissionregistrationV1Api(kube.api_client)

    def certificate() -> tuple[bytes, bytes, bytes]:
        data = core.read_namespaced_secret(f"{release}-kasynq-webhook-tls", namespace).data
        (hook,) = admission.read_validating_webhook_configuration(f"{release}-kasynq").webhooks
        assert base64.b64decode(hook.client_config.ca_bundle) == base64.b64decode(data["ca.crt"])
        return data["ca.crt"], data["tls.crt"], data["tls.key"]

    installed = certificate()
    _helm(kube.bin_dir, "upgrade", release, str(CHART), "--namespace", namespace,
          "--kubeconfig", str(kube.kubeconfig), "--reuse-values")  # fmt: skip
    assert certificate() == installed
    body = pool("nightly", schedules=[
        {"name": "nightly", "taskType": "report", "queue": "emails", "cron": "@every banana"}
    ])  # fmt: skip
    assert create(kube, namespace, "asynqworkerpools", body)["metadata"]["name"] == "nightly"


# The web console (issue 20): `web.*` values, its Deployment, Service, Ingress and read-only RBAC.


def _web_objects(objects: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rendered objects of the console (labelled app.kubernetes.io/name: kasynq-web)."""
    return {
        name: doc
        for name, doc in objects.items()
        if doc["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "kasynq-web"
    }


@pytest.mark.requires_kube
def test_web_console_is_off_by_default(kube_bin_dir: Path) -> None:
    assert _web_objects(_rendered(kube_bin_dir, "kq-system")) == {}


@pytest.mark.requires_kube
@pytest.mark.parametrize(
    ("values", "auth_args"),
    [
        ([], ["--auth-token-file=/etc/kasynq-web/auth/token"]),
        (
            ["--set", "web.auth.mode=basic", "--set", "web.auth.key=users"],
            ["--basic-auth-file=/etc/kasynq-web/auth/users"],
        ),
        (
            ["--set", "web.auth.mode=trustedHeader", "--set", "web.auth.existingSecret="],
            ["--trusted-header=X-Forwarded-User"],
        ),
    ],
)
def test_web_console_runs_the_operator_image_with_auth(
    kube_bin_dir: Path, values: list[str], auth_args: list[str]
) -> None:
    """`kasynq web` in the operator image, on 0.0.0.0 with the chosen auth, Redis URL from the
    Secret, probes on /healthz and /readyz, the operator's security contexts, no API token;
    the Service reaches the console's port and only the console's pods."""
    objects = _rendered(kube_bin_dir, "kq-system", *WEB, *values)
    web = _web_objects(objects)
    assert sorted(web) == ["Deployment/kq-kasynq-web", "Service/kq-kasynq-web",
                           "ServiceAccount/kq-kasynq-web"]  # fmt: skip
    operator_pod = objects["Deployment/kq-kasynq"]["spec"]["template"]["spec"]
    (operator,) = operator_pod["containers"]
    deployment = web["Deployment/kq-kasynq-web"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == operator["image"]
    assert container["command"] == ["kasynq", "web"]
    assert container["args"] == ["--host=0.0.0.0", "--port=8080", *auth_args]
    assert container["env"] == [{
        "name": "KASYNQ_REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": "redis", "key": "url"}},
    }]  # fmt: skip
    assert container["livenessProbe"] == {"httpGet": {"path": "/healthz", "port": "http"}}
    assert container["readinessProbe"] == {"httpGet": {"path": "/readyz", "port": "http"}}
    assert container["securityContext"] == operator["securityContext"]
    assert pod["securityContext"] == operator_pod["securityContext"]
    assert pod["serviceAccountName"] == "kq-kasynq-web"
    assert pod["automountServiceAccountToken"] is False
    if auth_args[0].startswith("--trusted-header"):
        assert "volumes" not in pod and "volumeMounts" not in container
    else:
        (mount,) = container["volumeMounts"]
        (volume,) = pod["volumes"]
        secret_key = auth_args[0].rsplit("/", 1)[1]
        assert volume["secret"] == {
            "secretName": "web-auth", "items": [{"key": secret_key, "path": secret_key}]
        }  # fmt: skip
        assert auth_args[0].split("=", 1)[1] == f"{mount['mountPath']}/{secret_key}"
    service = web["Service/kq-kasynq-web"]["spec"]
    (port,) = service["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    web_labels = deployment["spec"]["template"]["metadata"]["labels"]
    operator_labels = objects["Deployment/kq-kasynq"]["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= web_labels.items()
    assert not service["selector"].items() <= operator_labels.items()
    operator_selector = objects["Service/kq-kasynq-metrics"]["spec"]["selector"]
    assert not operator_selector.items() <= web_labels.items()


@pytest.mark.requires_kube
def test_web_console_options_from_values(kube_bin_dir: Path) -> None:
    """web.readOnly, web.kube (token mounted, namespaces passed when namespaced) and the
    Ingress with its class, hosts and TLS."""
    objects = _rendered(
        kube_bin_dir, "kq-system", *WEB,
        "--set", "web.readOnly=true", "--set", "web.kube=true",
        "--set", "watchNamespaces={team-a,team-b}",
        "--set", "web.ingress.enabled=true", "--set", "web.ingress.className=nginx",
        "--set", "web.ingress.hosts[0].host=queues.example.com",
        "--set", "web.ingress.tls[0].secretName=queues-tls",
        "--set", "web.ingress.tls[0].hosts={queues.example.com}",
    )  # fmt: skip
    pod = objects["Deployment/kq-kasynq-web"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][-4:] == [
        "--read-only", "--kube", "--namespace=team-a", "--namespace=team-b"
    ]  # fmt: skip
    assert pod["automountServiceAccountToken"] is True
    ingress = objects["Ingress/kq-kasynq-web"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "queues-tls", "hosts": ["queues.example.com"]}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "queues.example.com"
    assert rule["http"]["paths"] == [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": "kq-kasynq-web", "port": {"name": "http"}}},
    }]  # fmt: skip
    for kind in ("Role", "RoleBinding"):
        assert f"{kind}/kq-kasynq-web" in objects
    assert "ClusterRole/kq-kasynq-web" not in objects
    plain = _rendered(kube_bin_dir, "kq-system", *WEB)
    assert not [name for name in plain if "Role" in name and name.endswith("-web")]
    assert "Ingress/kq-kasynq-web" not in plain


def test_rendered_web_console_is_accepted_by_the_api_server(kube: Kube, namespace: str) -> None:
    """The console's pod meets Pod Security "restricted" like the operator's."""
    rendered = _helm(
        kube.bin_dir, "template", "kasynq", str(CHART), "--namespace", namespace, *WEB,
        "--set", "web.kube=true", "--set", "web.ingress.enabled=true",
        "--set", "web.ingress.hosts[0].host=queues.example.com",
    )  # fmt: skip
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    result = kube.cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=rendered
    )
    assert result.returncode == 0, result.stderr
    for created in ("deployment.apps/kasynq-web", "service/kasynq-web",
                    "ingress.networking.k8s.io/kasynq-web",
                    "clusterrole.rbac.authorization.k8s.io/kasynq-web"):  # fmt: skip
        assert f"{created} created (server dry run)" in result.stdout
    assert "PodSecurity" not in result.stderr


WEB_READS = [
    ("get", "asynqworkerpools.kasynq.io"),
    ("list", "asynqworkerpools.kasynq.io"),
    ("watch", "asynqworkerpools.kasynq.io"),
    ("list", "asynqqueues.kasynq.io"),
    ("list", "deployments.apps"),
    ("watch", "events"),
    ("list", "events.events.k8s.io"),
]
WEB_NEVER = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("get", "pods"),
    ("get", "configmaps"),
    ("patch", "asynqworkerpools.kasynq.io"),
    ("patch", "asynqworkerpools.kasynq.io", "--subresource=status"),
    ("delete", "asynqqueues.kasynq.io"),
    ("patch", "deployments.apps"),
    ("patch", "deployments.apps", "--subresource=scale"),
    ("create", "events"),
    ("create", "pods", "--subresource=exec"),
    ("*", "*"),
]


def test_web_service_account_reads_pools_and_events_only(
    kube: Kube, namespace: str, crds: list[str], install: object, tmp_path: Path
) -> None:
    """Cluster-wide install with web.kube: as the console's ServiceAccount (impersonated, and
    with a real token of it), pools, queues, Deployments and Events can be read everywhere;
    Secrets never, and nothing can be changed. NOTES say how to reach the console."""
    assert callable(install) and crds
    user = install(*WEB, "--set", "web.kube=true") + "-web"
    for check in WEB_READS:
        assert can_i(kube, user, *check, "--all-namespaces"), check
    for check in WEB_NEVER:
        assert not can_i(kube, user, *check, "--all-namespaces"), check
    kubeconfig = _token_kubeconfig(kube, user, tmp_path / "web.kubeconfig")

    def as_web(*args: str) -> subprocess.CompletedProcess[str]:
        return kube.cluster.kubectl("--kubeconfig", str(kubeconfig), *args)

    assert as_web("get", "asynqworkerpools,events", "-A").returncode == 0
    for refused in (
        ("get", "secrets", "-n", namespace),
        ("annotate", "serviceaccount", "default", "-n", namespace, "touched=yes"),
    ):
        result = as_web(*refused)
        assert result.returncode != 0 and "forbidden" in result.stderr.lower(), refused
    release = user.rsplit(":", 1)[1].removesuffix("-kasynq-web")
    notes = _helm(kube.bin_dir, "get", "notes", release, "--namespace", namespace,
                  "--kubeconfig", str(kube.kubeconfig))  # fmt: skip
    assert f"port-forward service/{release}-kasynq-web 8080:80" in notes
    assert "a bearer token from key token of Secret web-auth" in notes


def test_namespaced_web_service_account_reads_only_watched_namespaces(
    kube: Kube, namespace: str, other_namespace: str, install: object
) -> None:
    """With watchNamespaces the console's rights are Roles in those namespaces only."""
    assert callable(install)
    user = install(
        *WEB, "--set", "web.kube=true", "--set", f"watchNamespaces={{{other_namespace}}}"
    )
    user += "-web"
    cluster_wide = kube.kubectl("get", "clusterroles,clusterrolebindings", "-o", "name")
    assert user.rsplit(":", 1)[1] not in cluster_wide
    for check in WEB_READS:
        assert can_i(kube, user, *check, "-n", other_namespace), check
        assert not can_i(kube, user, *check, "-n", namespace), check
        assert not can_i(kube, user, *check, "--all-namespaces"), check
    for check in WEB_NEVER:
        assert not can_i(kube, user, *check, "-n", other_namespace), check
