"""What every subcommand shares: the Redis address, the output format, and error mapping.

Expected failures end in one line on stderr and an exit code, never a traceback:
2 for something that was not found or a bad argument (also a bad URL scheme, a DB index the
server does not have, or `--cluster` against a node that is not in a cluster), 1 for Redis
being unreachable or an operation Redis refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, NoReturn, ParamSpec, TypeVar

import click
import redis
from redis.exceptions import RedisClusterException

from kasynq.cli.output import JSON, TABLE
from kasynq.client import Client
from kasynq.connection import RedisConstructors
from kasynq.errors import (
    BrokerError,
    KasynqError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from kasynq.inspector import AsyncInspector, Inspector
from kasynq.redaction import masked_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
C = TypeVar("C", bound=RedisConstructors)
EXIT_FAILURE = 1
EXIT_NOT_FOUND = 2
"""Also the code of a bad argument or setting (as click's usage errors)."""


class BadSetting(click.ClickException):
    """A bad option or setting: `Error: <message>` on one line, exit code 2."""

    exit_code = EXIT_NOT_FOUND


def with_tls(url: str) -> str:
    """`url` with redis:// turned into rediss:// (the `--tls` flag)."""
    if url.startswith("redis://"):
        return "rediss://" + url.removeprefix("redis://")
    return url


@dataclass
class Session:
    """Connection settings and output format from the global options.

    `redis_url` is None when neither `--redis-url` nor `KASYNQ_REDIS_URL` gave one, so that
    `kasynq worker` can tell a given URL (which it uses) from the default (its config file's
    `redis_url` wins over that).
    """

    redis_url: str | None
    tls: bool
    tls_ca_file: str | None
    cluster: bool
    output: str

    @property
    def url(self) -> str:
        """The URL to dial: `--tls` turns redis:// into rediss://."""
        url = self.redis_url or DEFAULT_REDIS_URL
        return with_tls(url) if self.tls else url

    def _connection_options(self) -> dict[str, Any]:
        return {"ssl_ca_certs": self.tls_ca_file} if self.tls_ca_file else {}

    def inspector(self) -> Inspector:
        return self._connected(Inspector)

    def async_inspector(self) -> AsyncInspector:
        return self._connected(AsyncInspector)

    def _connected(self, kind: type[C]) -> C:
        """A `kind` on `url` (a Cluster with `--cluster`), with the TLS options."""
        if self.cluster:
            return kind.from_cluster(self.url, **self._connection_options())
        return kind.from_url(self.url, **self._connection_options())

    def client(self) -> Client:
        if self.cluster:
            return Client.from_cluster(self.url, **self._connection_options())
        return Client.from_url(self.url, **self._connection_options())

    def fail(self, message: str, code: int) -> NoReturn:
        click.echo(f"error: {message}", err=True)
        raise click.exceptions.Exit(code)

    def guarded(self, action: Callable[[], None]) -> None:
        """Run `action`, turning expected failures into one line and an exit code."""
        try:
            action()
        except (QueueNotFoundError, TaskNotFoundError) as exc:
            self.fail(exc.message, EXIT_NOT_FOUND)
        except redis.AuthenticationError as exc:
            self.fail(
                f"Redis at {masked_url(self.url)} refused the credentials: {exc}", EXIT_FAILURE
            )
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError) as exc:
            self.fail(f"cannot reach Redis at {masked_url(self.url)}: {exc}", EXIT_FAILURE)
        except RedisClusterException as exc:
            self._fail_cluster(exc)
        except redis.ResponseError as exc:
            if is_db_out_of_range(exc):
                self.fail(f"--redis-url {masked_url(self.url)}: {exc}", EXIT_NOT_FOUND)
            self.fail(f"Redis at {masked_url(self.url)} refused: {exc}", EXIT_FAILURE)
        except BrokerError as exc:
            self.fail(exc.message, EXIT_FAILURE)
        except (KasynqError, ValueError) as exc:
            self.fail(str(exc), EXIT_NOT_FOUND)

    def _fail_cluster(self, exc: RedisClusterException) -> NoReturn:
        where = masked_url(self.url)
        if NOT_A_CLUSTER in str(exc):
            self.fail(f"--cluster: {where} is not a Redis Cluster node", EXIT_NOT_FOUND)
        self.fail(f"cannot reach the Redis Cluster at {where}: {exc}", EXIT_FAILURE)


NOT_A_CLUSTER = "Cluster mode is not enabled"
"""How redis-py says that a `--cluster` URL names a standalone Redis."""


def is_db_out_of_range(exc: redis.ResponseError) -> bool:
    """Redis's answer to SELECT of a DB index it does not have (the URL's /<db>)."""
    return "DB index is out of range" in str(exc)


P = ParamSpec("P")


def command_action(
    action: Callable[Concatenate[Session, P], None],
) -> Callable[P, None]:
    """A click callback that receives the Session and has its failures mapped by it.

    Gives the command its own `-o/--output`, which wins over the global one, so both
    `kasynq -o json task ls ...` and `kasynq task ls ... -o json` work.
    """

    @click.pass_obj
    @functools.wraps(action)
    def run(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> None:
        output = kwargs.pop("output", None)
        if isinstance(output, str):
            session.output = output
        session.guarded(lambda: action(session, *args, **kwargs))

    return output_option(run)


output_option = click.option(
    "--output", "-o", type=click.Choice([TABLE, JSON]), help="table or json (wins over global -o)."
)
