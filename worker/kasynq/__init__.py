"""kasynq: asynq v0.26.0 wire-compatible task queues for Python."""

__version__ = "0.1.0"
