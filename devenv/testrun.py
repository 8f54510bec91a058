"""`make test`'s pytest step: the real-node tests in a second pytest process, beside the rest.

The real-node tests (`tests/realnode`, about 6 min) spend most of their time waiting on the
kubelet, leases and probes; run after the rest of the suite they took `make test` over its
20 min budget on two cores. Here they run in their own pytest process while the rest runs in
this one, with the interop tests first (tests/conftest.py orders them), which wait on Go's
lease and recoverer timings too and stand the real node's load best. Their output is kept in
a file and shown after the rest's, so neither interleaves. The step fails when either
process fails, whatever its exit code (pytest's 5, "no tests ran", included).

With arguments (a developer's selection) pytest runs once, in one process, with them.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("testrun")
REALNODE_TESTS = "tests/realnode"


def run_split(rest_args: list[str], beside_args: list[str]) -> int:
    """pytest with `rest_args` here and with `beside_args` in a second process at the same
    time; the first non-zero exit code (this process's first), else 0."""
    pytest = [sys.executable, "-m", "pytest"]
    started = time.monotonic()
    with tempfile.NamedTemporaryFile(
        "w", prefix="kasynq-pytest-beside-", suffix=".log", delete=False
    ) as output:
        beside = subprocess.Popen(
            [*pytest, "-p", "no:cacheprovider", *beside_args],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    log.info("pytest %s started beside the rest pid=%d", " ".join(beside_args), beside.pid)
    try:
        rest = subprocess.call([*pytest, *rest_args])
        if beside.poll() is None:
            log.info("the rest is done exit=%d; waiting for pytest %s", rest, " ".join(beside_args))
        beside_exit = beside.wait()
    finally:
        if beside.poll() is None:  # interrupted: SIGINT lets its fixture take the node down
            beside.send_signal(signal.SIGINT)
            beside.wait()
    sys.stdout.write(f"\n===== pytest {' '.join(beside_args)}, run beside the rest =====\n")
    sys.stdout.write(Path(output.name).read_text(errors="replace"))
    sys.stdout.flush()
    Path(output.name).unlink()
    log.info(
        "pytest done rest_exit=%d beside_exit=%d minutes=%.1f",
        rest,
        beside_exit,
        (time.monotonic() - started) / 60,
    )
    return rest or beside_exit


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    if argv:
        return subprocess.call([sys.executable, "-m", "pytest", *argv])
    return run_split(["--ignore", REALNODE_TESTS], [REALNODE_TESTS])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
