"""Entry point of the `kasynq-operator` command."""

import click

from kasynq_operator import __version__


@click.command()
@click.version_option(__version__, prog_name="kasynq-operator")
def main() -> None:
    """Run the kasynq operator."""
    raise click.ClickException("the operator has not landed yet (issue 7)")
