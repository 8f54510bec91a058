"""`kasynq web`: serve the web console (needs the `web` extra: aiohttp).

Every option also reads `KASYNQ_WEB_<OPTION>`; the Redis URL also `KASYNQ_REDIS_URL`. On a
host other than loopback it refuses to start without authentication unless told
`--insecure-no-auth`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kasynq.cli.session import BadSetting, Session
from kasynq.redaction import describe, masked_url

if TYPE_CHECKING:
    from kasynq.web.kube import PoolReader

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


AUTH_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def option(*decls: str, also_env: str | None = None, **settings: Any) -> Decorator:
    """A `kasynq web` option that also reads `KASYNQ_WEB_<NAME>` (and `also_env`).

    The chart sets the console up through these variables, so every option has one.
    """
    name = decls[0].removeprefix("--").upper().replace("-", "_")
    names = [f"KASYNQ_WEB_{name}", *([also_env] if also_env else [])]
    return click.option(*decls, envvar=names, show_envvar=True, **settings)


@click.command()
@option("--redis-url", also_env="KASYNQ_REDIS_URL", help="Redis URL [default: the global one].")
@option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).",
)
@option("--read-only", is_flag=True, help="Hide every control and refuse every change.")
@option("--kube", is_flag=True, help="Add the worker pools page (Kubernetes API, read-only).")
@option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="With --kube: only these namespaces (repeat; env: space-separated).",
)
@option("--auth-token-file", type=AUTH_FILE, help="File holding the bearer token.")
@option("--basic-auth-file", type=AUTH_FILE, help="File of `user:password` lines.")
@option(
    "--trusted-header",
    help="Header naming the user, set by an auth proxy in front (e.g. X-Forwarded-User).",
)
@option(
    "--insecure-no-auth",
    is_flag=True,
    help="Allow serving a non-loopback host without authentication.",
)
@option(
    "--refresh",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0.2),
    help="Seconds between live updates.",
)
@click.pass_obj
def web(
    session: Session,
    redis_url: str | None,
    host: str,
    port: int,
    read_only: bool,
    kube: bool,
    namespaces: tuple[str, ...],
    auth_token_file: Path | None,
    basic_auth_file: Path | None,
    trusted_header: str | None,
    insecure_no_auth: bool,
    refresh: float,
) -> None:
    """Serve the web console: queues, tasks, servers, scheduler (and pools with --kube)."""
    try:
        from kasynq.web.app import WebSettings, serve
        from kasynq.web.auth import Auth, AuthSettingError, read_basic_auth_file, read_token_file
    except ImportError as exc:
        needed = "kasynq web needs the web extra (pip install 'kasynq[web]')"
        raise BadSetting(f"{needed}: {exc}") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        auth = Auth.build(
            read_token_file(auth_token_file) if auth_token_file else None,
            read_basic_auth_file(basic_auth_file) if basic_auth_file else None,
            trusted_header or None,
        )
    except AuthSettingError as exc:
        raise BadSetting(str(exc)) from None
    if namespaces and not kube:
        raise BadSetting(f"--namespace {' '.join(namespaces)} needs --kube")
    if not auth.enabled and not is_loopback(host) and not insecure_no_auth:
        raise BadSetting(
            f"--host {host} is not loopback and no authentication is set: give "
            "--auth-token-file, --basic-auth-file or --trusted-header (or --insecure-no-auth)"
        )
    if redis_url:
        session.redis_url = redis_url
    logging.getLogger(__name__).info("web console redis=%s", masked_url(session.url))
    settings = WebSettings(read_only=read_only, refresh_seconds=refresh)
    pools = pool_reader(namespaces, refresh) if kube else None
    try:
        asyncio.run(serve(session.async_inspector(), auth, settings, host, port, pools))
    except OSError as exc:
        raise BadSetting(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def pool_reader(namespaces: tuple[str, ...], refresh: float) -> PoolReader:
    """The `--kube` reader, from the in-cluster config or $KUBECONFIG."""
    try:
        from kasynq.web.kube import PoolReader

        return PoolReader.from_environment(namespaces, refresh)
    except ImportError as exc:
        needed = "--kube needs the kubernetes package (pip install 'kasynq[operator]')"
        raise BadSetting(f"{needed}: {exc}") from None
    except Exception as exc:  # no in-cluster config and no usable kubeconfig
        raise BadSetting(f"--kube: cannot load a Kubernetes config: {describe(exc)}") from None
