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


STEPS: list[tuple[str, Callable[[], Path]]] = [
    (
        "control plane: etcd, kube-apiserver, kube-controller-manager, kubectl, helm",
        devcluster.build_binaries,
    ),
    ("goasynq: the Go asynq v0.26.0 interop program", goasynq.build),
    ("goexporter: asynq's Go metrics exporter", goasynq.build_exporter),
    ("goasynqmon: hibiken/asynqmon v0.7.2, the asynq web UI", goasynq.build_asynqmon),
    ("promtool: Prometheus's rule tester, for the chart's alerts (cold: minutes)", promtool.build),
]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    for what, build in STEPS:
        with progress(what):
            build()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
