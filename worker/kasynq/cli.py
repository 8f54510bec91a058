"""The `kasynq` command line."""

import click

from kasynq import __version__
from kasynq.worker_cli import worker


@click.group()
@click.version_option(__version__, prog_name="kasynq")
def main() -> None:
    """Run workers and inspect asynq-compatible queues."""


main.add_command(worker)
