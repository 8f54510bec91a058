"""Subcommands of the `kasynq` CLI, one module per command group."""
