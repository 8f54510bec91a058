"""What every subcommand shares: the Redis address, the output format, and error mapping.

Expected failures end in one line on stderr and an exit code, never a traceback:
2 for something that was not found or a bad argument, 1 for Redis being unreachable or an
operation Redis refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, NoReturn, ParamSpec

import click
import redis

from kasynq.client import Client
from kasynq.errors import (
    BrokerError,
    KasynqError,
    QueueNotFoundError,
    TaskNotFoundError,
)
from kasynq.inspector import Inspector
from kasynq.redaction import masked_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EXIT_FAILURE = 1
EXIT_NOT_FOUND = 2


@dataclass
class Session:
    """Connection settings and output format from the global options."""

    redis_url: str
    tls: bool
    tls_ca_file: str | None
    cluster: bool
    output: str

    @property
    def url(self) -> str:
        """The URL to dial: `--tls` turns redis:// into rediss://."""
        if self.tls and self.redis_url.startswith("redis://"):
            return "rediss://" + self.redis_url.removeprefix("redis://")
        return self.redis_url

    def _connection_options(self) -> dict[str, Any]:
        return {"ssl_ca_certs": self.tls_ca_file} if self.tls_ca_file else {}

    def inspector(self) -> Inspector:
        if self.cluster:
            return Inspector.from_cluster(self.url, **self._connection_options())
        return Inspector.from_url(self.url, **self._connection_options())

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
        except BrokerError as exc:
            self.fail(exc.message, EXIT_FAILURE)
        except (KasynqError, ValueError) as exc:
            self.fail(str(exc), EXIT_NOT_FOUND)


P = ParamSpec("P")


def command_action(
    action: Callable[Concatenate[Session, P], None],
) -> Callable[P, None]:
    """A click callback that receives the Session and has its failures mapped by it."""

    @click.pass_obj
    @functools.wraps(action)
    def run(session: Session, /, *args: P.args, **kwargs: P.kwargs) -> None:
        session.guarded(lambda: action(session, *args, **kwargs))

    return run
