"""Clients over TLS with a CA file, with ACL username/password and a database number."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from kasynq import keys
from kasynq.client import AsyncClient, Client
from kasynq.task import Task

from devenv.processes import free_port
from devenv.redis_servers import RedisServer

USER, PASSWORD = "producer", "s3cret"


@dataclass
class TlsRedis:
    port: int
    ca_file: str


@pytest.fixture
def tls_redis(redis_factory: type[RedisServer], tmp_path: Path) -> Iterator[TlsRedis]:
    """A server with a TLS port (CA-signed certificate) and an ACL user, besides its plain port."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make test certificates")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    days = ("-days", "1")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        *days,
        "-subj",
        "/CN=kasynq-test-ca",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (tmp_path / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        *days,
        "-extfile",
        "ext.cnf",
    )
    tls_port = free_port()
    server = redis_factory(
        extra_args=[
            "--tls-port",
            str(tls_port),
            "--tls-cert-file",
            str(tmp_path / "server.crt"),
            "--tls-key-file",
            str(tmp_path / "server.key"),
            "--tls-ca-cert-file",
            str(tmp_path / "ca.crt"),
            "--tls-auth-clients",
            "no",
            "--user",
            USER,
            "on",
            f">{PASSWORD}",
            "~*",
            "&*",
            "+@all",
        ]
    )
    server.start()
    yield TlsRedis(tls_port, str(tmp_path / "ca.crt"))


def _pending(tls: TlsRedis, db: int) -> int:
    with redis.Redis(
        host="127.0.0.1",
        port=tls.port,
        ssl=True,
        ssl_ca_certs=tls.ca_file,
        username=USER,
        password=PASSWORD,
        db=db,
    ) as conn:
        assert conn.acl_whoami() == USER
        return int(conn.llen(keys.pending_key("default")))


async def test_rediss_url_with_ca_file_user_password_and_db(tls_redis: TlsRedis) -> None:
    url = f"rediss://{USER}:{PASSWORD}@127.0.0.1:{tls_redis.port}/2"
    async with AsyncClient.from_url(url, ssl_ca_certs=tls_redis.ca_file) as producer:
        await producer.enqueue(Task("t"))
    plain = f"rediss://127.0.0.1:{tls_redis.port}"
    async with AsyncClient.from_url(
        plain, ssl_ca_certs=tls_redis.ca_file, username=USER, password=PASSWORD, db=3
    ) as producer:
        await producer.enqueue(Task("t"))
    assert (_pending(tls_redis, 2), _pending(tls_redis, 3)) == (1, 1)


async def test_rediss_refuses_a_server_the_ca_did_not_sign(tls_redis: TlsRedis) -> None:
    url = f"rediss://{USER}:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    async with AsyncClient.from_url(url) as producer:
        with pytest.raises(redis.ConnectionError):
            await producer.enqueue(Task("t"))


def test_blocking_client_mirrors_a_tls_redis_client(tls_redis: TlsRedis) -> None:
    blocking = redis.Redis(
        host="127.0.0.1",
        port=tls_redis.port,
        ssl=True,
        ssl_ca_certs=tls_redis.ca_file,
        username=USER,
        password=PASSWORD,
        db=5,
    )
    with Client(blocking) as producer:
        producer.enqueue(Task("t"))
    blocking.close()
    assert _pending(tls_redis, 5) == 1
    # With a timeout (a non-blocking descriptor) a plain socket's reply is polled for; a TLS
    # one's bytes are ciphertext until the SSL layer reads them, so it is never polled.
    url = f"rediss://{USER}:{PASSWORD}@127.0.0.1:{tls_redis.port}/5"
    with Client.from_url(url, ssl_ca_certs=tls_redis.ca_file) as producer:
        producer.enqueue(Task("t"))
        producer.enqueue(Task("t"))
    assert _pending(tls_redis, 5) == 3
