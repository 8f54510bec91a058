"""Redis connections for kasynq: from a URL (redis://, rediss://, unix://, redis-sentinel://;
`?cluster=true` on a node's redis:// or rediss:// URL for Redis Cluster), Sentinel, Cluster, or
an existing client.

Every client returned here answers with bytes (`decode_responses=False`), which the broker
needs for protobuf messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self, TypeAlias
from urllib.parse import parse_qs, parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.connection
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from kasynq.redaction import masked_url

AsyncRedis: TypeAlias = redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster
"""An asyncio Redis client (standalone, Sentinel-managed or Cluster), `decode_responses=False`."""

HostPort: TypeAlias = tuple[str, int]
SENTINEL_SCHEME = "redis-sentinel"
CLUSTER_SCHEMES = ("redis", "rediss")
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no", "")
DEFAULT_SENTINEL_PORT = 26379


def _given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


def redis_from_url(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    db: int | None = None,
    ssl_ca_certs: str | None = None,
    cluster: bool | None = None,
    **options: Any,
) -> AsyncRedis:
    """A client for `redis://`, `rediss://` (TLS; `ssl_ca_certs` = CA file), `unix://` or
    Go asynq's `redis-sentinel://[:password@]host1[:port][,host2[:port]]?master=name` URLs.

    A Redis Cluster client, from the URL of one node, when `cluster` is true or, with
    `cluster` None, when the URL says `?cluster=true` (a form Go asynq does not read: Go
    programs take the node addresses instead). Keyword arguments override what the URL says;
    extra ones go to redis-py.
    """
    url, in_url = _cluster_parameter(url)
    if cluster if cluster is not None else in_url:
        if urlsplit(url).scheme not in CLUSTER_SCHEMES:
            raise ValueError(
                f"Redis Cluster needs a redis:// or rediss:// URL of one node: "
                f"url={masked_url(url)!r}"
            )
        return cluster_redis(
            url, username=username, password=password, ssl_ca_certs=ssl_ca_certs, **options
        )
    given = _given(username=username, password=password, db=db, ssl_ca_certs=ssl_ca_certs)
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        master_name, sentinels = _sentinel_url(url, given)
        return sentinel_redis(master_name, sentinels, **given, **options)
    return redis.asyncio.Redis.from_url(url, **given, **options)


def blocking_redis_from_url(url: str, **options: Any) -> redis.Redis:
    """`redis_from_url`, blocking (redis-py's `redis.Redis`), with the same arguments."""
    given = _given(**options)
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        master_name, sentinels = _sentinel_url(url, given)
        return blocking_sentinel_redis(master_name, sentinels, **given)
    return redis.Redis.from_url(url, **given)


def _cluster_parameter(url: str) -> tuple[str, bool]:
    """`url` without its `cluster` query parameter, and whether that parameter says true."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    values = [value for name, value in query if name == "cluster"]
    if not values:
        return url, False
    value = values[-1].lower()
    if value not in TRUE_WORDS + FALSE_WORDS:
        raise ValueError(f"cluster in the Redis URL must be true or false: cluster={values[-1]!r}")
    rest = urlencode([(name, item) for name, item in query if name != "cluster"])
    return urlunsplit(parts._replace(query=rest)), value in TRUE_WORDS


def _sentinel_url(url: str, options: dict[str, Any]) -> tuple[str, list[HostPort]]:
    """(master name, sentinel addresses) of a redis-sentinel:// URL; its password goes into
    `options` unless they already hold one."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, netloc = netloc.rsplit("@", 1)
        password = unquote(credentials.split(":", 1)[-1]) or None
        if options.get("password") is None and password is not None:
            options["password"] = password
    masters = parse_qs(parts.query).get("master", [])
    if not masters or not masters[0]:
        raise ValueError(f"redis-sentinel URL needs ?master=<name>: url={masked_url(url)!r}")
    sentinels = [_host_port(address) for address in netloc.split(",") if address]
    if not sentinels:
        raise ValueError(f"redis-sentinel URL names no sentinel address: url={masked_url(url)!r}")
    return masters[0], sentinels


def _host_port(address: str) -> HostPort:
    host, _, port = address.rpartition(":")
    if not host:
        return address, DEFAULT_SENTINEL_PORT
    if not port.isdigit():
        raise ValueError(f"bad sentinel address (want host:port): address={address!r}")
    return host, int(port)


def sentinel_redis(
    master_name: str, sentinels: Sequence[HostPort], **options: Any
) -> redis.asyncio.Redis:
    """A client of the current master of `master_name`, found through `sentinels`.

    Fails over with the master. Options: `username`, `password`, `db`, `ssl_ca_certs`, and
    `sentinel_username`/`sentinel_password` authenticating to the sentinels; others go to
    redis-py.
    """
    master: redis.asyncio.Redis = _sentinel_master(
        redis.asyncio.sentinel.Sentinel, master_name, sentinels, **options
    )
    return master


def blocking_sentinel_redis(
    master_name: str, sentinels: Sequence[HostPort], **options: Any
) -> redis.Redis:
    """`sentinel_redis`, blocking (redis-py's `redis.Redis`)."""
    master: redis.Redis = _sentinel_master(
        redis.sentinel.Sentinel, master_name, sentinels, **options
    )
    return master


def _sentinel_master(
    sentinel_class: type[redis.sentinel.Sentinel] | type[redis.asyncio.sentinel.Sentinel],
    master_name: str,
    sentinels: Sequence[HostPort],
    *,
    username: str | None = None,
    password: str | None = None,
    db: int | None = None,
    sentinel_username: str | None = None,
    sentinel_password: str | None = None,
    ssl_ca_certs: str | None = None,
    **options: Any,
) -> Any:
    tls = _given(ssl=True, ssl_ca_certs=ssl_ca_certs) if ssl_ca_certs else {}
    sentinel = sentinel_class(
        list(sentinels),
        sentinel_kwargs=_given(username=sentinel_username, password=sentinel_password),
        **_given(username=username, password=password, db=db),
        **tls,
        **options,
    )
    return sentinel.master_for(master_name)


def cluster_redis(
    nodes: Sequence[HostPort] | str, **options: Any
) -> redis.asyncio.cluster.RedisCluster:
    """A Redis Cluster client from startup nodes or a `redis://`/`rediss://` URL of one node.

    Options: `username`, `password`, `ssl_ca_certs`; others go to redis-py.
    """
    if isinstance(nodes, str):
        return redis.asyncio.cluster.RedisCluster.from_url(nodes, **_cluster_kwargs(**options))
    startup_nodes = [redis.asyncio.cluster.ClusterNode(host, port) for host, port in nodes]
    return redis.asyncio.cluster.RedisCluster(
        startup_nodes=startup_nodes, **_cluster_kwargs(**options)
    )


def blocking_cluster_redis(
    nodes: Sequence[HostPort] | str, **options: Any
) -> redis.cluster.RedisCluster:
    """`cluster_redis`, blocking (redis-py's `redis.cluster.RedisCluster`)."""
    if isinstance(nodes, str):
        return redis.cluster.RedisCluster.from_url(nodes, **_cluster_kwargs(**options))
    startup_nodes = [redis.cluster.ClusterNode(host, port) for host, port in nodes]  # type: ignore[no-untyped-call]
    return redis.cluster.RedisCluster(startup_nodes=startup_nodes, **_cluster_kwargs(**options))


def _cluster_kwargs(
    *,
    username: str | None = None,
    password: str | None = None,
    ssl_ca_certs: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    given = _given(username=username, password=password)
    if ssl_ca_certs:
        given |= {"ssl": True, "ssl_ca_certs": ssl_ca_certs}
    return given | options


def async_twin(client: redis.Redis | redis.cluster.RedisCluster) -> AsyncRedis:
    """An asyncio client with the same address, credentials, db and TLS as a blocking one.

    For blocking producers (Django, Flask) that already configured a `redis.Redis`.
    """
    if isinstance(client, redis.cluster.RedisCluster):
        nodes = [(node.host, int(node.port)) for node in client.get_nodes()]  # type: ignore[no-untyped-call]
        return cluster_redis(nodes, **_cluster_options(client))
    pool = client.connection_pool
    options = dict(pool.connection_kwargs)
    options.pop("decode_responses", None)
    if issubclass(pool.connection_class, redis.SSLConnection):
        return redis.asyncio.Redis(ssl=True, **_ssl_options(options))
    if issubclass(pool.connection_class, redis.UnixDomainSocketConnection):
        return redis.asyncio.Redis(unix_socket_path=options.pop("path"), **_plain_options(options))
    return redis.asyncio.Redis(**_plain_options(options))


_PLAIN_OPTIONS = (
    "host",
    "port",
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "client_name",
)
_SSL_OPTIONS = (
    "ssl_ca_certs",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_cert_reqs",
    "ssl_check_hostname",
)


def _plain_options(options: dict[str, Any]) -> dict[str, Any]:
    return {name: options[name] for name in _PLAIN_OPTIONS if options.get(name) is not None}


def _ssl_options(options: dict[str, Any]) -> dict[str, Any]:
    tls = {name: options[name] for name in _SSL_OPTIONS if options.get(name) is not None}
    return _plain_options(options) | tls


def _cluster_options(client: redis.cluster.RedisCluster) -> dict[str, Any]:
    kwargs = client.nodes_manager.connection_kwargs
    return _given(username=kwargs.get("username"), password=kwargs.get("password"))


class RedisConstructors:
    """`from_url`, `from_sentinel` and `from_cluster` for classes wrapping one async client.

    A subclass says how to wrap a client it will own (and close) in `owning`; `queue_prefix`
    (see `keys.prefixed_queue`) goes to it, every other keyword to the connection.
    """

    @classmethod
    def owning(cls, client: AsyncRedis, *, queue_prefix: str = "") -> Self:
        """Wrap `client`, which the new object closes when it is closed."""
        raise NotImplementedError

    @classmethod
    def from_url(cls, url: str, *, queue_prefix: str = "", **connection: Any) -> Self:
        """From a redis://, rediss://, unix:// or redis-sentinel:// URL (see `redis_from_url`)."""
        return cls.owning(redis_from_url(url, **connection), queue_prefix=queue_prefix)

    @classmethod
    def from_sentinel(
        cls,
        master_name: str,
        sentinels: Sequence[HostPort],
        *,
        queue_prefix: str = "",
        **connection: Any,
    ) -> Self:
        """Through Sentinel: follows the current master of `master_name`."""
        client = sentinel_redis(master_name, sentinels, **connection)
        return cls.owning(client, queue_prefix=queue_prefix)

    @classmethod
    def from_cluster(
        cls, nodes: Sequence[HostPort] | str, *, queue_prefix: str = "", **connection: Any
    ) -> Self:
        """On Redis Cluster, from startup nodes or one node's URL."""
        return cls.owning(cluster_redis(nodes, **connection), queue_prefix=queue_prefix)
