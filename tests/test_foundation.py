"""The layout and the test servers are what they claim to be."""

import subprocess
import sys
from pathlib import Path

import redis

from devenv.redis_servers import RedisCluster, RedisSentinel

REPO = Path(__file__).resolve().parents[1]


def test_stdlib_operator_is_not_shadowed() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import operator; print(operator.__file__)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(out).parent != REPO / "operator"
    assert "site-packages" not in out and out.endswith("operator.py")


def test_no_init_in_source_roots() -> None:
    assert not (REPO / "operator" / "__init__.py").exists()
    assert not (REPO / "worker" / "__init__.py").exists()


def test_console_scripts_report_version() -> None:
    bindir = Path(sys.executable).parent
    for script in ("kasynq", "kasynq-operator"):
        out = subprocess.run(
            [str(bindir / script), "--version"], capture_output=True, text=True, check=True
        ).stdout
        assert "0.1.0" in out


def test_standalone_redis_is_real(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    info = conn.info("server")
    assert str(info["redis_version"]).startswith(("7.", "8."))
    assert conn.config_get("save")["save"] == ""


def test_cluster_is_real(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.urls) == 3
    conn = redis.RedisCluster.from_url(redis_cluster.urls[0])
    info = conn.cluster_info()
    assert info["cluster_state"] == "ok"
    assert int(info["cluster_known_nodes"]) == 3
    for index in range(50):
        conn.set(f"k{index}", index)
    assert sum(node.client().dbsize() for node in redis_cluster.nodes) == 50


def test_sentinel_reports_master(redis_sentinel: RedisSentinel) -> None:
    sentinel = redis.Sentinel(redis_sentinel.sentinels)
    _host, port = sentinel.discover_master(redis_sentinel.master_name)
    assert port == redis_sentinel.master.port
    master = sentinel.master_for(redis_sentinel.master_name)
    master.set("via-sentinel", "1")
    assert redis_sentinel.master.client().get("via-sentinel") == b"1"
