"""The operator on the real control plane (etcd, kube-apiserver, kube-controller-manager) and a
real Redis: workload creation, autoscaling from raw asynq state, pause, Redis outages,
restarts, tenancy and idle-first scale-in."""

from __future__ import annotations

import base64
import contextlib
import itertools
import logging
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import redis
from kasynq import keys
from kopf.testing import KopfRunner
from kubernetes import client

from devenv.redis_servers import RedisServer
from tests.fixtures.kube import Kube, wait_for
from tests.fixtures.redis import lock_down

GROUP, VERSION = "kasynq.io", "v1alpha1"
logger = logging.getLogger(__name__)
POLL_SECONDS = 1.0


@pytest.fixture
def run_operator(
    namespace: str, crds: list[str]
) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """Starts `kasynq-operator`'s handlers for the test namespace (kopf in a thread)."""

    @contextlib.contextmanager
    def running() -> Iterator[KopfRunner]:
        args = ["run", "--standalone", "--namespace", namespace, "-m", "kasynq_operator.handlers"]
        with KopfRunner(args, timeout=30) as runner:
            yield runner
        assert runner.exit_code == 0, runner.output

    return running


class Env:
    """The test namespace's API handles and helpers."""

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.core = client.CoreV1Api(kube.api_client)
        self.apps = client.AppsV1Api(kube.api_client)
        self.custom = client.CustomObjectsApi(kube.api_client)

    def redis_secret(self, server: RedisServer, name: str = "redis") -> None:
        self.core.create_namespaced_secret(
            self.namespace,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=name), string_data={"url": server.url}
            ),
        )

    def create(self, plural: str, kind: str, name: str, spec: dict[str, Any]) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, body)

    def queue(self, name: str, **spec: Any) -> None:
        self.create("asynqqueues", "AsynqQueue", name, {"redis": {"secretName": "redis"}, **spec})

    def pool(self, name: str, queues: list[str], **spec: Any) -> None:
        autoscaling = {"pollIntervalSeconds": POLL_SECONDS, **spec.pop("autoscaling", {})}
        body = {
            "queues": [{"name": queue} for queue in queues],
            "handlers": "app.tasks:mux",
            "template": {"image": "registry.invalid/app:1"},
            "autoscaling": autoscaling,
            **spec,
        }
        self.create("asynqworkerpools", "AsynqWorkerPool", name, body)

    def patch_spec(self, plural: str, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, plural, name, {"spec": spec}
        )

    def get(self, plural: str, name: str) -> dict[str, Any]:
        return dict(
            self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)
        )

    def condition(self, plural: str, name: str, type_: str) -> dict[str, Any] | None:
        for condition in self.get(plural, name).get("status", {}).get("conditions", []):
            if condition["type"] == type_:
                return dict(condition)
        return None

    def replicas(self, pool: str) -> int | None:
        try:
            deployment = self.apps.read_namespaced_deployment(f"{pool}-worker", self.namespace)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return deployment.spec.replicas

    def redis_name(self, queue: str) -> str:
        return f"{self.namespace}:{queue}"


@pytest.fixture
def env(kube: Kube, namespace: str) -> Env:
    return Env(kube, namespace)


def push_pending(server: RedisServer, queue: str, count: int) -> None:
    """`count` pending tasks written the way asynq's enqueue script leaves them.

    In one MULTI/EXEC: an autoscaler poll must see none or all of them (a poll that saw a
    half-written burst made two scale-ups, 1 -> 33 -> 50, where the tests expect 1 -> 50).
    """
    now_ns = time.time_ns()
    with server.client() as conn, conn.pipeline(transaction=True) as pipe:
        for _ in range(count):
            task_id = str(uuid.uuid4())
            pipe.hset(
                keys.task_key(queue, task_id), mapping={"state": "pending", "pending_since": now_ns}
            )
            pipe.lpush(keys.pending_key(queue), task_id)
        pipe.sadd(keys.ALL_QUEUES, queue)
        pipe.execute()


def burst_pool(env: Env, server: RedisServer, **autoscaling: Any) -> None:
    """Queue "jobs" and pool "burst" on `server`: 1 to 100 replicas, 20 tasks per replica."""
    env.redis_secret(server)
    env.queue("jobs")
    env.pool(
        "burst",
        ["jobs"],
        replicas={"min": 1, "max": 100},
        autoscaling={"targetBacklogPerReplica": 20, **autoscaling},
    )


def drain(server: RedisServer, queue: str) -> None:
    with server.client() as conn:
        conn.delete(keys.pending_key(queue))


def stays(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    """Fail if `predicate` turns false at any check during `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert predicate(), what
        time.sleep(0.25)


def test_pool_creates_deployment_configmap_and_service(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("emails", weight=3)
    env.pool("mail", ["emails"], concurrency=4, shutdownTimeoutSeconds=20)
    with run_operator():
        wait_for(lambda: env.replicas("mail") == 1, "the worker Deployment at min size")
        deployment = env.apps.read_namespaced_deployment("mail-worker", env.namespace)
        pool_uid = env.get("asynqworkerpools", "mail")["metadata"]["uid"]
        assert deployment.metadata.owner_references[0].uid == pool_uid
        pod = deployment.spec.template.spec
        assert pod.termination_grace_period_seconds == 35
        assert pod.security_context.run_as_non_root is True
        env_vars = {item.name: item for item in pod.containers[0].env}
        assert env_vars["HOSTNAME"].value_from.field_ref.field_path == "metadata.name"
        assert env_vars["KASYNQ_REDIS_URL"].value_from.secret_key_ref.name == "redis"
        config = env.core.read_namespaced_config_map("mail-worker-config", env.namespace)
        assert f"{env.namespace}:emails: 3" in config.data["worker.yaml"]
        assert "concurrency: 4" in config.data["worker.yaml"]
        service = env.core.read_namespaced_service("mail-worker-metrics", env.namespace)
        assert service.spec.selector["kasynq.io/pool"] == "mail"
        wait_for(
            lambda: (
                (env.condition("asynqworkerpools", "mail", "Ready") or {}).get("status") == "True"
            ),
            "pool Ready=True",
        )
        wait_for(
            lambda: (
                env.get("asynqqueues", "emails").get("status", {}).get("redisName")
                == env.redis_name("emails")
            ),
            "queue status with its tenant-prefixed Redis name",
        )

        env.core.delete_namespaced_service("mail-worker-metrics", env.namespace)
        env.apps.patch_namespaced_deployment(
            "mail-worker",
            env.namespace,
            {"spec": {"template": {"spec": {"terminationGracePeriodSeconds": 1}}}},
        )

        def repaired() -> bool:
            services = env.core.list_namespaced_service(env.namespace).items
            grace = env.apps.read_namespaced_deployment(
                "mail-worker", env.namespace
            ).spec.template.spec.termination_grace_period_seconds
            return any(s.metadata.name == "mail-worker-metrics" for s in services) and grace == 35

        wait_for(repaired, "drift repair of the deleted Service and the edited Deployment")
        old_uid = env.apps.read_namespaced_deployment("mail-worker", env.namespace).metadata.uid

        def recreated() -> bool:
            deployments = env.apps.list_namespaced_deployment(env.namespace).items
            return any(d.metadata.uid != old_uid and d.spec.replicas == 1 for d in deployments)

        env.apps.delete_namespaced_deployment("mail-worker", env.namespace)
        wait_for(recreated, "the deleted Deployment recreated")

        new_image = {"template": {"image": "registry.invalid/app:2"}}
        env.patch_spec("asynqworkerpools", "mail", new_image)

        def rolled_out() -> bool:
            deployment = env.apps.read_namespaced_deployment("mail-worker", env.namespace)
            return bool(deployment.spec.template.spec.containers[0].image.endswith(":2"))

        wait_for(rolled_out, "the new image in the Deployment")


def test_burst_scales_up_within_two_polls_and_drains_back_to_min(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    burst_pool(env, redis_server, scaleDownStabilizationSeconds=10)
    with run_operator():
        operator_started = time.monotonic()
        wait_for(lambda: env.replicas("burst") == 1, "the Deployment at min size")
        time.sleep(2 * POLL_SECONDS)  # let the autoscaler sample the empty queue
        started = time.monotonic()
        push_pending(redis_server, env.redis_name("jobs"), 1000)
        wait_for(lambda: env.replicas("burst") == 50, "1000 tasks / 20 per replica = 50", 10)
        reaction = time.monotonic() - started
        logger.info("burst reaction seconds=%.2f poll=%s", reaction, POLL_SECONDS)
        assert reaction <= 2 * POLL_SECONDS + 0.5, f"scaled after {reaction:.2f}s"
        decision = env.get("asynqworkerpools", "burst")["status"]["lastDecision"]
        assert decision["inputs"]["backlog"] == 1000

        def scaled_up_event() -> bool:
            events = env.core.list_namespaced_event(env.namespace).items
            return any(e.reason == "ScaledUp" and "1 -> 50" in e.message for e in events)

        wait_for(scaled_up_event, "a ScaledUp Event on the pool")

        def queue_status() -> dict[str, Any]:
            return dict(env.get("asynqqueues", "jobs").get("status", {}))

        wait_for(lambda: queue_status().get("pending") == 1000, "the queue's pending count")
        assert queue_status()["latencySeconds"] > 0
        assert (env.condition("asynqqueues", "jobs", "MetricsAvailable") or {})["status"] == "True"

        # the idle evidence counts once the operator's memory spans a down-window
        time.sleep(max(0.0, operator_started + 10 - time.monotonic()))
        drain(redis_server, env.redis_name("jobs"))
        drained = time.monotonic()
        wait_for(lambda: env.replicas("burst") == 1, "back to min on idle evidence", 20)
        elapsed = time.monotonic() - drained
        logger.info("scale-in after drain seconds=%.2f window=10", elapsed)
        # three polls of an empty backlog prove the pods idle: no 10 s window after the drain
        assert 2 * POLL_SECONDS <= elapsed <= 6 * POLL_SECONDS, f"scaled in after {elapsed:.1f}s"


def test_paused_queue_is_not_counted(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("held", paused=True)
    env.pool("paused", ["held"], replicas={"min": 1, "max": 20})
    with run_operator():
        wait_for(
            lambda: env.get("asynqqueues", "held").get("status", {}).get("paused") is True,
            "the operator to pause the queue in Redis",
        )
        with redis_server.client() as conn:
            assert conn.exists(keys.paused_key(env.redis_name("held")))
        push_pending(redis_server, env.redis_name("held"), 400)
        stays(lambda: env.replicas("paused") in (None, 1), 4 * POLL_SECONDS, "paused tasks counted")
        env.patch_spec("asynqqueues", "held", {"paused": False})
        wait_for(lambda: env.replicas("paused") == 20, "unpaused backlog scales the pool", 15)
        with redis_server.client() as conn:
            assert not conn.exists(keys.paused_key(env.redis_name("held")))


def test_redis_outage_holds_replicas_and_sets_the_condition(
    env: Env, redis_factory: type[RedisServer], run_operator: Any
) -> None:
    server = redis_factory().start()
    env.redis_secret(server)
    env.queue("jobs")
    env.pool(
        "outage",
        ["jobs"],
        autoscaling={"targetBacklogPerReplica": 20, "scaleDownStabilizationSeconds": 2},
    )
    with run_operator():
        push_pending(server, env.redis_name("jobs"), 100)
        wait_for(lambda: env.replicas("outage") == 5, "100 tasks / 20 = 5 replicas")
        server.stop()
        stopped = time.monotonic()

        def unavailable() -> bool:
            condition = env.condition("asynqworkerpools", "outage", "MetricsAvailable")
            return condition is not None and condition["status"] == "False"

        wait_for(unavailable, "MetricsAvailable=False", 15)
        noticed = time.monotonic() - stopped
        logger.info("outage noticed seconds=%.2f", noticed)
        stays(lambda: env.replicas("outage") == 5, 4 * POLL_SECONDS, "scaled during the outage")
        server.start()
        push_pending(server, env.redis_name("jobs"), 100)
        wait_for(lambda: not unavailable(), "MetricsAvailable=True after Redis returns", 15)
        assert env.replicas("outage") == 5
    assert noticed <= 2 * POLL_SECONDS + 2 * 2.0 + 1, f"condition after {noticed:.1f}s"


def test_scale_to_zero_waits_for_due_soon_work_and_the_idle_window(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool(
        "zero",
        ["jobs"],
        replicas={"min": 0, "max": 5},
        autoscaling={"scaleToZeroIdleSeconds": 3, "scaleDownStabilizationSeconds": 1},
    )
    queue = env.redis_name("jobs")
    with redis_server.client() as conn:  # a retry due in 20 s: inside the 30 s lookahead
        conn.zadd(keys.retry_key(queue), {"soon": int(time.time()) + 20})
    with run_operator():
        wait_for(lambda: env.replicas("zero") == 1, "one replica for the task due soon")
        stays(lambda: env.replicas("zero") == 1, 5, "scaled to zero with a task due soon")
        with redis_server.client() as conn:
            conn.delete(keys.retry_key(queue))
        emptied = time.monotonic()
        wait_for(lambda: env.replicas("zero") == 0, "zero after the idle window", 15)
        assert time.monotonic() - emptied >= 3


def test_operator_restart_changes_no_replicas(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool(
        "restart",
        ["jobs"],
        autoscaling={"targetBacklogPerReplica": 20, "scaleDownStabilizationSeconds": 15},
    )
    push_pending(redis_server, env.redis_name("jobs"), 100)
    with run_operator():
        wait_for(lambda: env.replicas("restart") == 5, "100 tasks / 20 = 5 replicas")
        drain(redis_server, env.redis_name("jobs"))

    def generation() -> int:
        deployment = env.apps.read_namespaced_deployment("restart-worker", env.namespace)
        return int(deployment.metadata.generation)

    before = generation()
    with run_operator():
        stays(lambda: env.replicas("restart") == 5, 8, "the restarted operator resized the pool")
    after = generation()
    assert after == before, "the Deployment was modified by the restarted operator"


def test_fixed_size_follows_kubectl_scale(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool("fixed", ["jobs"], autoscaling={"enabled": False})
    with run_operator():
        wait_for(lambda: env.replicas("fixed") == 1, "the Deployment at min size")
        env.kube.kubectl("scale", "-n", env.namespace, "asynqworkerpool/fixed", "--replicas=3")
        wait_for(lambda: env.replicas("fixed") == 3, "kubectl scale applied to the Deployment")
        scale = env.kube.kubectl(
            "get",
            "-n",
            env.namespace,
            "asynqworkerpool/fixed",
            "--subresource=scale",
            "-o",
            "jsonpath={.status.replicas} {.status.selector}",
        )
        wait_for(
            lambda: env.get("asynqworkerpools", "fixed").get("status", {}).get("replicas") == 3,
            "status.replicas",
        )
        assert "kasynq.io/pool=fixed" in scale


def test_cross_namespace_references_are_refused_by_name(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("mine")
    env.create(
        "asynqworkerpools",
        "AsynqWorkerPool",
        "greedy",
        {
            "queues": [{"name": "mine"}, {"name": "theirs", "namespace": "other-team"}],
            "handlers": "app.tasks:mux",
            "template": {"image": "registry.invalid/app:1"},
        },
    )
    env.queue("stolen", redis={"secretName": "redis", "namespace": "other-team"})
    with run_operator():

        def refused(plural: str, name: str, text: str) -> bool:
            condition = env.condition(plural, name, "Ready") or {}
            return condition.get("status") == "False" and text in condition.get("message", "")

        wait_for(
            lambda: refused("asynqworkerpools", "greedy", "AsynqQueue other-team/theirs"),
            "the pool refused naming the foreign queue",
        )
        wait_for(
            lambda: refused("asynqqueues", "stolen", "Secret other-team/redis"),
            "the queue refused naming the foreign Secret",
        )
        assert env.replicas("greedy") is None


def test_invalid_pod_template_override_is_reported(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    # Within the CRD's bounds, but refused by Deployment validation.
    bad = {"spec": {"tolerations": [{"key": "batch", "operator": "Sometimes"}]}}
    env.pool("broken", ["jobs"], template={"image": "registry.invalid/app:1", "podTemplate": bad})
    with run_operator():

        def reported() -> bool:
            condition = env.condition("asynqworkerpools", "broken", "Ready") or {}
            return condition.get("reason") == "ApplyFailed" and "tolerations" in condition.get(
                "message", ""
            )

        wait_for(reported, "Ready=False naming the invalid field")


def test_pod_settings_within_the_bounds_reach_pods_without_a_token(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    pod_template = {
        "metadata": {"labels": {"team": "a"}},
        "spec": {
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "batch", "operator": "Exists"}],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }
    template = {"image": "registry.invalid/app:1", "podTemplate": pod_template}
    env.pool("bounded", ["jobs"], template=template)
    with run_operator():
        wait_for(lambda: env.replicas("bounded") is not None, "the worker Deployment")
    pod = env.apps.read_namespaced_deployment("bounded-worker", env.namespace).spec.template
    assert pod.spec.automount_service_account_token is False
    assert pod.spec.node_selector == {"pool": "batch"}
    assert [t.key for t in pod.spec.tolerations] == ["batch"]
    assert sorted(v.name for v in pod.spec.volumes) == ["config", "scratch"]
    assert pod.metadata.labels["team"] == "a" and pod.metadata.labels["kasynq.io/pool"] == "bounded"
    assert pod.spec.containers[0].args == ["--config", "/etc/kasynq/worker.yaml"]


def test_bad_cron_admitted_while_the_webhook_was_down_sets_ready_false(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    schedule = {"name": "nightly", "cron": "@every banana", "taskType": "t", "queue": "jobs"}
    env.pool("cron", ["jobs"], schedules=[schedule])
    with run_operator():
        wait_refused(env, "cron", "spec.schedules[0].cron", "Ready=False naming the schedule")
    assert env.replicas("cron") is None


def wait_refused(env: Env, pool: str, text: str, what: str) -> None:
    """Wait until the pool says Ready=False, reason Refused, with `text` in the message."""

    def refused() -> bool:
        condition = env.condition("asynqworkerpools", pool, "Ready") or {}
        return condition.get("reason") == "Refused" and text in condition.get("message", "")

    wait_for(refused, what)


def warnings(env: Env, name: str, reason: str) -> int:
    """Warning Events posted about object `name` with `reason`."""
    selector = f"involvedObject.name={name},type=Warning,reason={reason}"
    return len(env.core.list_namespaced_event(env.namespace, field_selector=selector).items)


def assert_understandable(message: str) -> None:
    for dump in ("Traceback", "HTTP response", "headers", "Exception", "hunter2"):
        assert dump not in message, message


@pytest.mark.parametrize(
    ("secret_data", "reason", "text"),
    [
        (None, "SecretNotFound", "Secret {namespace}/redis not found"),
        (
            {"url": "http://admin:hunter2@cache.invalid/"},
            "InvalidRedisURL",
            "Secret {namespace}/redis key 'url': not a Redis URL",
        ),
        ({"address": "redis://127.0.0.1:1/0"}, "SecretKeyMissing", "has no key 'url'"),
    ],
    ids=["missing-secret", "not-a-redis-url", "missing-key"],
)
def test_secret_problems_set_ready_false_with_a_reason_and_one_warning(
    env: Env, run_operator: Any, secret_data: dict[str, str] | None, reason: str, text: str
) -> None:
    if secret_data is not None:
        env.core.create_namespaced_secret(
            env.namespace,
            client.V1Secret(metadata=client.V1ObjectMeta(name="redis"), string_data=secret_data),
        )
    env.queue("jobs")
    env.pool("mail", ["jobs"])
    expected = text.format(namespace=env.namespace)

    def not_ready(plural: str, name: str) -> bool:
        condition = env.condition(plural, name, "Ready") or {}
        return condition.get("status") == "False" and condition.get("reason") == reason

    with run_operator():
        wait_for(lambda: not_ready("asynqworkerpools", "mail"), f"pool Ready=False {reason}")
        wait_for(lambda: not_ready("asynqqueues", "jobs"), f"queue Ready=False {reason}")
        time.sleep(4 * POLL_SECONDS)  # more polls, the same problem: no more Events
        assert warnings(env, "mail", reason) == 1
        assert warnings(env, "jobs", reason) == 1
    for plural, name in (("asynqworkerpools", "mail"), ("asynqqueues", "jobs")):
        for condition in env.get(plural, name)["status"]["conditions"]:
            assert_understandable(condition["message"])
        assert expected in (env.condition(plural, name, "Ready") or {})["message"]


def test_redis_freeze_is_reported_as_a_timeout(
    env: Env, redis_factory: type[RedisServer], run_operator: Any
) -> None:
    server = redis_factory().start()
    assert server.process is not None
    env.redis_secret(server)
    env.queue("jobs")
    env.pool("frozen", ["jobs"])

    def ready() -> dict[str, Any]:
        return env.condition("asynqworkerpools", "frozen", "Ready") or {}

    with run_operator():
        wait_for(lambda: ready().get("status") == "True", "pool Ready")
        server.process.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: ready().get("reason") == "RedisTimeout", "Ready=False RedisTimeout")
            assert "did not answer within" in ready()["message"]
            assert warnings(env, "frozen", "RedisTimeout") == 1
        finally:
            server.process.send_signal(signal.SIGCONT)
        wait_for(lambda: ready().get("status") == "True", "pool Ready again after the thaw")


def test_env_errors_name_the_entry_the_user_wrote(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    env.redis_secret(redis_server)
    env.queue("jobs")
    both = {"name": "MODE", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    env.pool("envs", ["jobs"], template={"image": "registry.invalid/app:1", "env": [both]})
    with run_operator():

        def reported() -> bool:
            condition = env.condition("asynqworkerpools", "envs", "Ready") or {}
            return "spec.template.env[0].valueFrom" in condition.get("message", "")

        wait_for(reported, "Ready=False naming spec.template.env[0]")
    message = (env.condition("asynqworkerpools", "envs", "Ready") or {})["message"]
    assert "env[3]" not in message and "containers[0]" not in message


def tenant_users_enabled(
    env: Env, redis_factory: type[RedisServer], monkeypatch: pytest.MonkeyPatch
) -> str:
    """A locked-down Redis, its admin Secret, and the operator told to use it; admin URL."""
    server = redis_factory().start()
    admin_url = lock_down(server, "admin-secret-password")
    env.core.create_namespaced_secret(
        env.namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="admin"), string_data={"url": admin_url}),
    )
    monkeypatch.setenv("KASYNQ_REDIS_ADMIN_SECRET", f"{env.namespace}/admin")
    return admin_url


def test_tenant_user_queue_gives_workers_credentials_for_their_namespace_only(
    env: Env,
    redis_factory: type[RedisServer],
    run_operator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin_url = tenant_users_enabled(env, redis_factory, monkeypatch)
    env.queue("jobs", redis={"secretName": "jobs-redis", "tenantUser": True})
    env.pool("mail", ["jobs"])
    user = f"kasynq-tenant-{env.namespace}"

    def users() -> list[bytes]:
        with redis.Redis.from_url(admin_url) as admin:
            return list(admin.execute_command("ACL", "USERS"))

    with run_operator():
        for plural, name in (("asynqqueues", "jobs"), ("asynqworkerpools", "mail")):
            wait_for(
                lambda p=plural, n=name: (
                    (env.condition(p, n, "Ready") or {}).get("status") == "True"
                ),
                f"{name} Ready with the tenant user",
            )
        secret = env.core.read_namespaced_secret("jobs-redis", env.namespace)
        tenant = base64.b64decode(secret.data["url"]).decode()
        assert tenant.startswith(f"redis://{user}:") and "admin-secret-password" not in tenant
        container = env.apps.read_namespaced_deployment("mail-worker", env.namespace)
        (url_env,) = [e for e in container.spec.template.spec.containers[0].env
                      if e.name == "KASYNQ_REDIS_URL"]  # fmt: skip
        assert url_env.value_from.secret_key_ref.name == "jobs-redis"
        with redis.Redis.from_url(tenant) as conn:
            conn.lpush(keys.pending_key(env.redis_name("jobs")), "task")
            with pytest.raises(redis.exceptions.NoPermissionError):
                conn.llen(keys.pending_key("other-team:jobs"))
        # Rotation by hand: delete the Secret, the operator makes a new password.
        env.core.delete_namespaced_secret("jobs-redis", env.namespace)

        def rotated() -> str | None:
            try:
                found = env.core.read_namespaced_secret("jobs-redis", env.namespace)
            except client.exceptions.ApiException:
                return None
            url = base64.b64decode(found.data["url"]).decode()
            return url if url != tenant else None

        wait_for(rotated, "a new tenant password")
        with redis.Redis.from_url(tenant) as old, pytest.raises(redis.AuthenticationError):
            old.ping()
        with redis.Redis.from_url(rotated() or "") as new:
            assert new.llen(keys.pending_key(env.redis_name("jobs"))) == 1
        env.custom.delete_namespaced_custom_object(
            GROUP, VERSION, env.namespace, "asynqqueues", "jobs"
        )
        wait_for(lambda: user.encode() not in users(), "the tenant user removed with its queue")

        def secret_gone() -> bool:
            names = env.core.list_namespaced_secret(env.namespace).items
            return "jobs-redis" not in {s.metadata.name for s in names}

        wait_for(secret_gone, "the tenant Secret removed")


def test_tenant_password_rotates_with_an_overlap_and_rolls_the_workers(
    env: Env,
    redis_factory: type[RedisServer],
    run_operator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant_users_enabled(env, redis_factory, monkeypatch)
    monkeypatch.setenv("KASYNQ_REDIS_TENANT_PASSWORD_MAX_AGE_SECONDS", "5")
    monkeypatch.setenv("KASYNQ_REDIS_TENANT_PASSWORD_OVERLAP_SECONDS", "4")
    env.queue("jobs", redis={"secretName": "jobs-redis", "tenantUser": True})
    env.pool("mail", ["jobs"])

    def tenant_url() -> str | None:
        try:
            found = env.core.read_namespaced_secret("jobs-redis", env.namespace)
        except client.exceptions.ApiException:
            return None
        return base64.b64decode(found.data["url"]).decode()

    def works(url: str) -> bool:
        try:
            with redis.Redis.from_url(url) as conn:
                return bool(conn.ping())
        except redis.AuthenticationError:
            return False

    with run_operator():
        wait_for(lambda: env.replicas("mail") is not None, "the worker Deployment")
        wait_for(tenant_url, "the tenant Secret")
        first = tenant_url() or ""
        wait_for(lambda: tenant_url() != first, "a rotated password", 15)
        assert works(first), "the previous password must work while pods roll"
        assert works(tenant_url() or "")

        def rolled() -> bool:
            deployment = env.apps.read_namespaced_deployment("mail-worker", env.namespace)
            return "kasynq.io/redis-credentials-rotated-at" in (
                deployment.spec.template.metadata.annotations or {}
            )

        # The Secret is written first, the Deployment's template a call later.
        wait_for(rolled, "the workers rolled for the new password", 10)
        wait_for(lambda: not works(first), "the previous password dropped after the overlap", 15)


@contextlib.contextmanager
def two_of_four_pods_busy(
    env: Env, server: RedisServer, run_operator: Any, pool: str, concurrency: int
) -> Iterator[tuple[list[str], Callable[[], list[str]]]]:
    """A running operator with `pool` at 4 pods (4 pending tasks, one per replica), then two
    of its pods running a task (worker records and active entries as asynq writes them) and
    the backlog gone; yields the busy pods and a lister of the pool's live pods."""
    env.redis_secret(server)
    env.queue("jobs")
    env.pool(
        pool,
        ["jobs"],
        concurrency=concurrency,
        replicas={"min": 1, "max": 10},
        autoscaling={"targetBacklogPerReplica": 1, "scaleDownStabilizationSeconds": 3},
    )
    queue = env.redis_name("jobs")
    push_pending(server, queue, 4)
    selector = f"kasynq.io/pool={pool}"

    def pods() -> list[str]:
        items = env.core.list_namespaced_pod(env.namespace, label_selector=selector).items
        return sorted(p.metadata.name for p in items if p.metadata.deletion_timestamp is None)

    with run_operator():
        wait_for(lambda: len(pods()) == 4, "4 pods for 4 pending tasks", 20)
        busy = pods()[1:3]
        with server.client() as conn:
            expires = int(time.time()) + 600
            for index, host in enumerate(busy):
                workers = keys.workers_key(host, 1, f"server-{index}")
                conn.zadd(keys.ALL_WORKERS, {workers: expires})
                conn.hset(workers, f"task-{index}", b"worker-info")
                conn.lpush(keys.active_key(queue), f"task-{index}")
            conn.delete(keys.pending_key(queue))
        yield busy, pods


def test_scale_in_removes_idle_pods_first(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    with two_of_four_pods_busy(env, redis_server, run_operator, "idle", 1) as (busy, pods):
        wait_for(lambda: env.replicas("idle") == 2, "2 running tasks at concurrency 1", 20)
        wait_for(lambda: pods() == busy, f"only the busy pods {busy} left", 20)
        costs = {
            p.metadata.name: p.metadata.annotations.get(
                "controller.kubernetes.io/pod-deletion-cost"
            )
            for p in env.core.list_namespaced_pod(
                env.namespace, label_selector="kasynq.io/pool=idle"
            ).items
            if p.metadata.name in busy
        }
        assert costs == dict.fromkeys(busy, "1")


def test_disabling_autoscaling_holds_the_current_size(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    """`autoscaling.enabled: false` without `replicas.desired` once dropped 4 -> 1 under load."""
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool("hold", ["jobs"], autoscaling={"targetBacklogPerReplica": 20})
    push_pending(redis_server, env.redis_name("jobs"), 80)
    with run_operator():
        wait_for(lambda: env.replicas("hold") == 4, "80 tasks / 20 = 4 replicas")
        env.patch_spec("asynqworkerpools", "hold", {"autoscaling": {"enabled": False}})
        wait_for(
            lambda: (
                "autoscaling disabled"
                in env.get("asynqworkerpools", "hold")["status"]["lastDecision"]["reason"]
            ),
            "a decision with autoscaling disabled",
        )
        stays(lambda: env.replicas("hold") == 4, 4 * POLL_SECONDS, "dropped to min")


def test_scale_in_keeps_every_busy_pod(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    """Two tasks at concurrency 10 need one pod, but they run on two: both stay."""
    with two_of_four_pods_busy(env, redis_server, run_operator, "busy", 10) as (busy, pods):
        wait_for(lambda: pods() == busy, f"only the busy pods {busy} left", 20)
        stays(lambda: pods() == busy, 4 * POLL_SECONDS, "a busy pod removed")
        reason = env.get("asynqworkerpools", "busy")["status"]["lastDecision"]["reason"]
        assert "2 pods are running tasks" in reason


def pool_at_zero_with_a_schedule(
    env: Env, redis_server: RedisServer, name: str, period: int
) -> None:
    """A pool of `min: 0` whose `@every {period}s` entry is its only work (no kubelet: its
    pods never start, so the tick never runs)."""
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool(
        name,
        ["jobs"],
        replicas={"min": 0, "max": 2},
        autoscaling={
            "scaleToZeroIdleSeconds": 2,
            "scaleDownStabilizationSeconds": 1,
            "dueSoonLookaheadSeconds": 15,
        },
        schedules=[{"name": "tick", "cron": f"@every {period}s", "taskType": "t", "queue": "jobs"}],
    )


def seconds_before_the_tick(env: Env, name: str, period: int) -> float:
    """How long before the next tick the operator last scaled the pool: from lastScaleTime
    (whole seconds, truncated), not when the test saw it (on a busy machine reading the
    Deployment back can lag by seconds)."""
    status = env.get("asynqworkerpools", name)["status"]
    scaled_at = datetime.fromisoformat(status["lastScaleTime"]).timestamp()
    return (int(scaled_at) // period + 1) * period - scaled_at


def test_a_pool_at_zero_wakes_for_its_schedule(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    """The scheduler runs in the worker pods: a pool at zero must wake before each tick."""
    period = 40
    pool_at_zero_with_a_schedule(env, redis_server, "cron", period)
    # An operator started inside the lookahead wakes the pool at once, too late for a pod to
    # start before that tick (the start time's fault, not the policy's): start clear of it.
    left = period - time.time() % period
    if left < 15 + 6:
        time.sleep(left + 0.5)
    with run_operator():
        # Outside the lookahead the idle pool goes to zero; inside it, it wakes.
        wait_for(lambda: env.replicas("cron") == 0, "zero while the next tick is far", period)
        wait_for(lambda: env.replicas("cron") == 1, "woken for the tick", period)
        ahead = seconds_before_the_tick(env, "cron", period)
        assert ahead <= 15 + 1, f"woken {ahead:.0f}s before the tick"
        assert ahead - 1 >= 5, "woken too late for the pod to start"
        wait_for(lambda: env.replicas("cron") == 0, "idle again after the tick", period)


def test_a_restarted_operator_wakes_one_observed_start_up_before_a_tick(
    env: Env, redis_server: RedisServer, run_operator: Any
) -> None:
    """status.startupSeconds, observed by an earlier operator, sets the lead from the first
    poll: that plus one poll, not the 15 s lookahead (which, longer than the period, kept the
    pool up for good)."""
    period, startup = 10, 1
    pool_at_zero_with_a_schedule(env, redis_server, "seeded", period)
    env.custom.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        env.namespace,
        "asynqworkerpools",
        "seeded",
        {"status": {"startupSeconds": startup}},
    )
    with run_operator():

        def decided(size: int) -> bool:
            status = env.get("asynqworkerpools", "seeded").get("status", {})
            return status.get("lastDecision", {}).get("desiredReplicas") == size

        wait_for(lambda: decided(1), "woken for a tick", 2 * period)
        ahead = seconds_before_the_tick(env, "seeded", period)
        assert ahead <= startup + POLL_SECONDS + 2, f"woken {ahead:.0f}s before the tick"
        wait_for(lambda: decided(0), "back at zero between the ticks", period)


def test_own_scale_writes_are_not_drift(
    env: Env, redis_server: RedisServer, run_operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """About 6 in 10 of the operator's own scale writes were taken for edits and re-applied
    the three owned objects."""
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool(
        "own",
        ["jobs"],
        replicas={"min": 1, "max": 20},
        autoscaling={"targetBacklogPerReplica": 1, "scaleDownStabilizationSeconds": 1},
    )
    queue = env.redis_name("jobs")
    with run_operator():
        wait_for(lambda: env.replicas("own") == 1, "the Deployment at min size")
        time.sleep(2 * POLL_SECONDS)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="kasynq_operator.autoscaler"):
            for before, size in itertools.pairwise((0, 3, 6, 9, 12)):
                push_pending(redis_server, queue, size - before)
                wait_for(lambda size=size: env.replicas("own") == size, f"{size} replicas")
            time.sleep(2 * POLL_SECONDS)
    repairs = [r.getMessage() for r in caplog.records if "repairing" in r.getMessage()]
    assert repairs == []


def test_admin_allowed_pod_field_reaches_the_deployment_and_is_refused_otherwise(
    env: Env, redis_server: RedisServer, run_operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CRD stores admin-allowable fields (the webhook refuses them when it is up); the
    operator renders them only when the cluster admin allowed them."""
    env.redis_secret(redis_server)
    env.queue("jobs")
    template = {
        "image": "registry.invalid/app:1",
        "podTemplate": {"spec": {"runtimeClassName": "gvisor"}},
    }
    env.pool("sandboxed", ["jobs"], template=template)
    with run_operator():
        wait_refused(env, "sandboxed", "runtimeClassName is not allowed", "Ready=False naming it")
    assert env.replicas("sandboxed") is None
    monkeypatch.setenv("KASYNQ_POD_TEMPLATE_ALLOWED_FIELDS", "runtimeClassName")
    with run_operator():
        wait_for(lambda: env.replicas("sandboxed") is not None, "the worker Deployment")
    pod = env.apps.read_namespaced_deployment("sandboxed-worker", env.namespace).spec.template
    assert pod.spec.runtime_class_name == "gvisor"


def test_pools_are_polled_without_a_daemon_each(
    env: Env, redis_server: RedisServer, run_operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """One poller serves every pool (issue #18: a kopf daemon per pool and per queue held the
    objects' full bodies, 2,000 tasks at 1,000 pools): a spec edit is applied at once, not at
    the next poll, and pools carry no finalizer, so a deleted pool goes at once. The event
    handlers feeding it do not log every call."""
    env.redis_secret(redis_server)
    env.queue("jobs")
    env.pool("slow", ["jobs"], autoscaling={"pollIntervalSeconds": 60})
    with run_operator():
        wait_for(lambda: env.replicas("slow") == 1, "the worker Deployment")
        metadata = env.get("asynqworkerpools", "slow")["metadata"]
        assert "kasynq.io/finalizer" not in (metadata.get("finalizers") or [])
        new_image = {"template": {"image": "registry.invalid/app:2"}}
        env.patch_spec("asynqworkerpools", "slow", new_image)

        def image() -> str:
            deployment = env.apps.read_namespaced_deployment("slow-worker", env.namespace)
            return str(deployment.spec.template.spec.containers[0].image)

        wait_for(lambda: image().endswith(":2"), "the edit applied well before the next poll", 10)
        env.custom.delete_namespaced_custom_object(
            GROUP, VERSION, env.namespace, "asynqworkerpools", "slow"
        )

        def pool_gone() -> bool:
            pools = env.custom.list_namespaced_custom_object(
                GROUP, VERSION, env.namespace, "asynqworkerpools"
            )
            return not pools["items"]

        wait_for(pool_gone, "the pool deleted", 10)
    assert "created workers" in caplog.text, "INFO records are captured"
    for handler in ("pool_changed", "queue_changed", "owned_object_changed"):
        assert f"Handler '{handler}' succeeded." not in caplog.text
