"""The `kasynq` command line: run workers, enqueue, inspect and watch queues."""

import click

from kasynq import __version__
from kasynq.cli.dash import dash
from kasynq.cli.enqueue import enqueue
from kasynq.cli.exporter import exporter
from kasynq.cli.output import JSON, TABLE
from kasynq.cli.queue import queue
from kasynq.cli.servers import cron, group, server
from kasynq.cli.session import DEFAULT_REDIS_URL, Session
from kasynq.cli.stats import stats
from kasynq.cli.task import task
from kasynq.cli.web import web
from kasynq.cli.worker import worker


@click.group()
@click.version_option(__version__, prog_name="kasynq")
@click.option(
    "--redis-url",
    envvar="KASYNQ_REDIS_URL",
    help=f"redis://, rediss:// or redis-sentinel:// URL (env KASYNQ_REDIS_URL) [default: "
    f"{DEFAULT_REDIS_URL}; for `worker`: its config file's redis_url].",
)
@click.option("--tls", is_flag=True, help="Use TLS (turns redis:// into rediss://).")
@click.option("--tls-ca-file", type=click.Path(exists=True, dir_okay=False), help="CA bundle.")
@click.option("--cluster", is_flag=True, help="The URL names a node of a Redis Cluster.")
@click.option("--output", "-o", type=click.Choice([TABLE, JSON]), default=TABLE, show_default=True)
@click.pass_context
def main(
    ctx: click.Context,
    redis_url: str | None,
    tls: bool,
    tls_ca_file: str | None,
    cluster: bool,
    output: str,
) -> None:
    """Run workers and inspect asynq-compatible queues (Go and Python alike).

    The global options apply to every subcommand, `worker` included (its own flags win).
    """
    ctx.obj = Session(redis_url, tls, tls_ca_file, cluster, output)


for command in (worker, enqueue, stats, queue, task, group, server, cron, dash, exporter, web):
    main.add_command(command)
