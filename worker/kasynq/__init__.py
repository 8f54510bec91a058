"""kasynq: asynq v0.26.0 wire-compatible task queues for Python.

The names a user needs, in one place::

    from kasynq import Client, Task, ServeMux, TaskContext
"""

from kasynq.aggregator import GroupAggregator
from kasynq.client import AsyncClient, Client
from kasynq.context import TaskContext
from kasynq.cron import CronError
from kasynq.errors import (
    DuplicateTaskError,
    KasynqError,
    QueueNotEmptyError,
    QueueNotFoundError,
    TaskIDConflictError,
    TaskNotFoundError,
)
from kasynq.inspector import AsyncInspector, Inspector, SchedulerEntry, ServerInfo, WorkerInfo
from kasynq.retry import RevokeTask, SkipRetry, TaskCanceled, TaskDeadlineExceeded
from kasynq.scheduler import ScheduleError, Scheduler
from kasynq.servemux import HandlerNotFound, ServeMux
from kasynq.server import Server, ServerConfig
from kasynq.task import Task, TaskInfo, TaskOptions, TaskState, options
from kasynq.waiting import (
    AsyncTaskInfo,
    TaskArchivedError,
    TaskDeletedError,
    TaskFailedError,
    TaskWaitError,
    WaitableTaskInfo,
    WaitTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncInspector",
    "AsyncTaskInfo",
    "Client",
    "CronError",
    "DuplicateTaskError",
    "GroupAggregator",
    "HandlerNotFound",
    "Inspector",
    "KasynqError",
    "QueueNotEmptyError",
    "QueueNotFoundError",
    "RevokeTask",
    "ScheduleError",
    "Scheduler",
    "SchedulerEntry",
    "ServeMux",
    "Server",
    "ServerConfig",
    "ServerInfo",
    "SkipRetry",
    "Task",
    "TaskArchivedError",
    "TaskCanceled",
    "TaskContext",
    "TaskDeadlineExceeded",
    "TaskDeletedError",
    "TaskFailedError",
    "TaskIDConflictError",
    "TaskInfo",
    "TaskNotFoundError",
    "TaskOptions",
    "TaskState",
    "TaskWaitError",
    "WaitTimeoutError",
    "WaitableTaskInfo",
    "WorkerInfo",
    "__version__",
    "options",
]
