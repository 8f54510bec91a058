"""Issue 21, runtime half, against Go asynq: waiting on tasks Go workers run (§14)."""

from __future__ import annotations

import pytest
from kasynq import TaskFailedError
from kasynq.task import Task

from devenv.goasynq import b64encode
from tests.interop.conftest import Target
from tests.interop.servers import behaviour

pytestmark = pytest.mark.requires_go


def test_wait_sees_what_a_go_worker_did(target: Target) -> None:
    """Go publishes nothing on completion: the waiter hears the task hash change itself."""
    target.go.start_server(concurrency=4, queues={"default": 1}, log_level="error")
    done = target.client.enqueue(
        Task("go:ok", behaviour(sleep_ms=50, result=b64encode(b"from go"))), retention=60
    )
    failing = target.client.enqueue(
        Task("go:bad", behaviour(sleep_ms=50, fail_times=-1, error="no luck", skip_retry=True)),
        retention=60,
    )
    vanishing = target.client.enqueue(Task("go:plain", behaviour(sleep_ms=50)))
    assert done.wait(10) == b"from go"
    with pytest.raises(TaskFailedError, match="no luck"):
        failing.wait(10)
    assert vanishing.wait(10) is None
