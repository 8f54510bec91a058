"""Entry point of the `kasynq-operator` command: kopf with the kasynq handlers."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
import kopf

from kasynq_operator import __version__, handlers
from kasynq_operator.podtemplate import allowed_fields_from_env


@click.command()
@click.version_option(__version__, prog_name="kasynq-operator")
@click.option(
    "--namespace",
    "-n",
    "namespaces",
    multiple=True,
    help="Watch only this namespace (repeatable; globs allowed). Default: all namespaces.",
)
@click.option("--all-namespaces", "-A", is_flag=True, help="Watch all namespaces (the default).")
@click.option(
    "--metrics-port",
    "--http-port",
    "http_port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of /metrics and /healthz; 0 disables them.",
)
@click.option(
    "--webhook-port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the validating admission webhook (HTTPS); 0 disables it.",
)
@click.option(
    "--webhook-cert-dir",
    default="/etc/kasynq-operator/webhook",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Directory with tls.crt and tls.key of the webhook.",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
)
def main(
    namespaces: tuple[str, ...],
    all_namespaces: bool,
    http_port: int,
    webhook_port: int,
    webhook_cert_dir: Path,
    log_level: str,
) -> None:
    """Run the kasynq operator: reconcile AsynqQueues and autoscale AsynqWorkerPools."""
    if namespaces and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces exclude each other")
    try:
        allowed_fields_from_env(os.environ)  # the startup handler reads it; fail here, clearly
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    assert handlers.pool_changed is not None  # importing `handlers` registered the handlers
    settings = kopf.OperatorSettings()
    # Exact namespaces leave nothing to discover: skip kopf's cluster-wide scans of CRDs and
    # namespaces, which a namespaced install (Roles only) may not do; kopf would retry them
    # for a minute before starting.
    exact = not any(char in pattern for pattern in namespaces for char in "*?[!")
    settings.scanning.disabled = bool(namespaces) and exact
    kopf.run(
        standalone=True,
        clusterwide=not namespaces,
        namespaces=namespaces,
        memo=kopf.Memo(
            http_port=http_port,
            namespaces=namespaces,
            webhook_port=webhook_port,
            webhook_cert_dir=webhook_cert_dir,
        ),
        settings=settings,
    )
