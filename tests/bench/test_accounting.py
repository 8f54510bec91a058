"""The harness's exactly-once check and its /proc readings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench import procs
from bench.workloads import Accounting, RunFailed, check_exactly_once


def test_every_task_once_passes() -> None:
    check_exactly_once(Accounting(done=10, distinct=10, first=1.0, last=2.0), 10)


@pytest.mark.parametrize(
    ("done", "distinct", "message"),
    [
        (9, 9, "lost 1, duplicated 0 of 10 tasks"),
        (11, 10, "lost 0, duplicated 1 of 10 tasks"),
        (10, 9, "lost 1, duplicated 1 of 10 tasks"),  # the counter alone would look right
    ],
)
def test_lost_or_duplicated_tasks_fail_the_run(done: int, distinct: int, message: str) -> None:
    with pytest.raises(RunFailed, match=message):
        check_exactly_once(Accounting(done, distinct, 1.0, 2.0), 10)


def test_process_tree_cpu_and_memory() -> None:
    code = "import time; print('up', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"up\n"  # the interpreter runs: its RSS is real
        tree = procs.tree(os.getpid())
        assert child.pid in tree
        assert procs.rss_bytes([child.pid]) > 1024 * 1024
        assert procs.cpu_seconds(tree) > 0
    finally:
        child.kill()
        child.wait()
