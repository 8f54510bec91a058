"""`make prebuild`: build every Go program that the tests, the demo and the benchmarks run,
before pytest starts, so a cold machine shows what it is building instead of a silent
session fixture. Each program is cached under $KASYNQ_CACHE; warm, this takes a second.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from devenv import devcluster, goasynq, promtool
from devenv.realnode import node as realnode

log = logging.getLogger("prebuild")
TICK_SECONDS = 30.0


@contextmanager
def progress(what: str, tick_seconds: float = TICK_SECONDS) -> Iterator[None]:
    """Log `what` when it starts, every `tick_seconds` while it runs, and when it ends."""
    started = time.monotonic()
    finished = threading.Event()

    def tick() -> None:
        while not finished.wait(tick_seconds):
            log.info("%s: still at work, %.0fs", what, time.monotonic() - started)

    ticker = threading.Thread(target=tick, daemon=True)
    log.info("%s: start", what)
    ticker.start()
    try:
        yield
    finally:
        finished.set()
        ticker.join()
    log.info("%s: done in %.1fs", what, time.monotonic() - started)


def build_real_node() -> Path | None:
    """What tests/realnode needs, built here rather than while the rest of the suite runs
    beside it (devenv/testrun.py); nothing on a machine that cannot run the node."""
    reason = realnode.requirements_missing()
    if reason is not None:
        log.info("real node: not built here: %s", reason)
        return None
    return realnode.build_images(realnode.build())


STEPS: list[tuple[str, Callable[[], Path | None]]] = [
    (
        "control plane: etcd, kube-apiserver, kube-controller-manager, kubectl, helm",
        devcluster.build_binaries,
    ),
    ("goasynq: the Go asynq v0.26.0 interop program", goasynq.build),
    ("goexporter: asynq's Go metrics exporter", goasynq.build_exporter),
    ("goasynqmon: hibiken/asynqmon v0.7.2, the asynq web UI", goasynq.build_asynqmon),
    ("promtool: Prometheus's rule tester, for the chart's alerts (cold: minutes)", promtool.build),
    ("real node: packages, node binaries and our images (cold: ~10 min)", build_real_node),
]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    for what, build in STEPS:
        with progress(what):
            build()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
