"""`kasynq worker` with the Redis password and TLS CA the operator hands to pods
(`KASYNQ_REDIS_PASSWORD`, `KASYNQ_REDIS_CA_FILE`), against real password-protected and TLS
redis-servers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
import redis.asyncio
from kasynq.broker import Broker
from kasynq.config import ConfigError, resolve
from kasynq.redaction import describe, masked_url, redacted
from kasynq_operator.redis_clients import RedisClients
from kasynq_operator.resources import SecretRef

from devenv.processes import free_port
from devenv.redis_servers import RedisServer
from tests.server_helpers import enqueue, queue_sizes, wait_for
from tests.test_server_process import spawn_worker, worker_processes

__all__ = ["worker_processes"]  # the fixture, shared with the worker process tests

PASSWORD = "s3cret-pass"


def protected_redis(redis_factory: type[RedisServer]) -> RedisServer:
    server = redis_factory().start()
    with server.client() as conn:
        conn.config_set("requirepass", PASSWORD)
    return server


async def processes_one_task(client: redis.asyncio.Redis) -> None:
    """Enqueue one `hold` task of zero seconds and wait until a worker has processed it."""
    await enqueue(Broker(client), 1, task_type="hold", payload=b"0")

    async def done() -> bool:
        sizes = await queue_sizes(client)
        return sizes["pending"] == sizes["active"] == 0

    await wait_for(done, within=20, what="the worker to process the task")


async def test_worker_uses_the_password_from_the_environment(
    redis_factory: type[RedisServer],
    worker_processes: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = protected_redis(redis_factory)
    monkeypatch.setenv("KASYNQ_REDIS_PASSWORD", PASSWORD)
    process = spawn_worker(worker_processes, server.url, "--handlers", "tests.server_app:mux")
    client = redis.asyncio.Redis(host="127.0.0.1", port=server.port, password=PASSWORD)
    try:
        await processes_one_task(client)
    finally:
        await client.aclose()
    assert process.poll() is None


@pytest.mark.parametrize("where", ["url", "env"])
def test_a_wrong_password_fails_at_start_with_the_url_masked(
    where: str,
    redis_factory: type[RedisServer],
    worker_processes: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = protected_redis(redis_factory)
    url = server.url
    if where == "url":
        url = url.replace("redis://", "redis://:wrong-pass@")
        shown = f"redis://:***@127.0.0.1:{server.port}/0"
    else:
        monkeypatch.setenv("KASYNQ_REDIS_PASSWORD", "wrong-pass")
        shown = server.url
    process = spawn_worker(worker_processes, url, "--handlers", "tests.server_app:mux")
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    text = output.decode()
    assert "wrong-pass" not in text
    errors = [line for line in text.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, text
    assert f"Redis at {shown} refused the credentials" in errors[0]
    assert "Traceback" not in text


def make_tls_files(directory: Path) -> dict[str, str]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl), by file name."""
    files = {name: str(directory / name) for name in ("ca", "srv", "san")}
    Path(files["san"]).write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca"
        " -keyout {ca}.key -out {ca}.crt",
        "req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {srv}.key -out {srv}.csr",
        "x509 -req -in {srv}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 1"
        " -extfile {san} -out {srv}.crt",
    ):
        args = command.format(**files).split()
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)
    return {
        f"{name}.{ext}": f"{files[name]}.{ext}" for name in ("ca", "srv") for ext in ("crt", "key")
    }


async def test_worker_verifies_a_tls_server_with_the_ca_file(
    redis_factory: type[RedisServer],
    worker_processes: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    tls = make_tls_files(tmp_path)
    tls_port = free_port()
    tls_args = f"--tls-port {tls_port} --tls-cert-file {tls['srv.crt']} --tls-auth-clients no"
    tls_args += f" --tls-key-file {tls['srv.key']} --tls-ca-cert-file {tls['ca.crt']}"
    server = redis_factory(extra_args=tls_args.split()).start()
    monkeypatch.setenv("KASYNQ_REDIS_CA_FILE", tls["ca.crt"])
    spawn_worker(
        worker_processes, f"rediss://127.0.0.1:{tls_port}/0", "--handlers", "tests.server_app:mux"
    )
    client = redis.asyncio.Redis(host="127.0.0.1", port=server.port)
    try:
        await processes_one_task(client)
    finally:
        await client.aclose()


def test_a_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.crt")
    with pytest.raises(ConfigError, match=r"redis_ca_file is not a readable file: .*nope\.crt"):
        resolve(None, {"handlers": "m:mux", "redis_ca_file": missing})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:pw@host:6379/0", "rediss://user:***@host:6379/0"),
        ("redis://user@host:6379/0", "redis://user@host:6379/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_masked_url(url: str, shown: str) -> None:
    assert masked_url(url) == shown


SENTINEL_PASSWORD = "S3cret-sentinel"


def test_a_sentinel_url_without_master_is_an_error_without_the_password(
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    url = f"redis-sentinel://:{SENTINEL_PASSWORD}@127.0.0.1:{free_port()}"
    process = spawn_worker(worker_processes, url, "--handlers", "tests.server_app:mux")
    output, _ = process.communicate(timeout=30)
    text = output.decode()
    assert process.returncode != 0
    assert SENTINEL_PASSWORD not in text
    assert "Traceback" not in text
    assert text.startswith("Error: redis_url redis-sentinel://:***@127.0.0.1:")
    assert "is not usable: ValueError: redis-sentinel URL needs ?master=" in text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "bad url='redis-sentinel://:pw@h1:26379,h2?master=m' here",
            "bad url='redis-sentinel://:***@h1:26379,h2?master=m' here",
        ),
        ("redis://h:6379/0?password=pw&db=1", "redis://h:6379/0?password=***&db=1"),
        ("no url at all", "no url at all"),
    ],
)
def test_redacted_masks_every_url_in_a_text(text: str, shown: str) -> None:
    assert redacted(text) == shown


def test_describe_names_the_class_and_the_text() -> None:
    error = redis.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
    assert describe(error) == (
        "ResponseError: WRONGTYPE Operation against a key holding the wrong kind"
    )
    assert describe(ValueError()) == "ValueError"
    assert describe(ValueError("url=redis://u:pw@h/0")) == "ValueError: url=redis://u:***@h/0"


def test_the_operator_error_for_a_tenant_secret_url_masks_the_password() -> None:
    secret = SecretRef(name="tenant-redis")
    data = {"url": f"redis-sentinel://:{SENTINEL_PASSWORD}@10.0.0.1:26379".encode()}
    with pytest.raises(ValueError, match="needs") as raised:
        RedisClients._connect("tenant", secret, data)
    assert SENTINEL_PASSWORD not in str(raised.value)
    assert SENTINEL_PASSWORD not in describe(raised.value)
