"""kasynq operator: reconciles AsynqQueue and AsynqWorkerPool resources with kopf."""

__version__ = "0.1.0"
