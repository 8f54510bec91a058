"""A pool at zero with a schedule, on the local control plane with the kubelet stand-in.

The scheduler runs inside the worker pods (leader-elected), so a pool at `min: 0` must wake
before each tick, run it and idle back. Before issue #18 such a pool never woke: an
`@every 30s` entry ran 0 times in 150 s while the pool said Ready=True; then it woke
`dueSoonLookaheadSeconds` before every tick, now the observed start-up plus one poll once the
first wake showed it.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

from kasynq import keys
from rich.console import Console

from devenv.demo import DemoOptions, demo_loop
from devenv.processes import wait_until

PERIOD_SECONDS = 40
OPTIONS = DemoOptions(
    tasks=0,
    min_replicas=0,
    max_replicas=2,
    concurrency=2,
    poll_seconds=1.0,
    scale_down_seconds=1.0,
    scale_to_zero_idle_seconds=3.0,
    due_soon_lookahead_seconds=15.0,
    schedule=f"@every {PERIOD_SECONDS}s",
    live=False,
)


def test_a_pool_at_zero_runs_its_schedule_and_idles_back(
    kube_bin_dir: Path, tmp_path: Path
) -> None:
    del kube_bin_dir  # the fixture builds (or finds) the binaries and marks requires_kube
    with demo_loop(OPTIONS, Console(file=io.StringIO()), tmp_path) as demo:

        def processed() -> int:
            return int(demo.redis.get(keys.processed_total_key(demo.redis_queue)) or 0)

        def at_zero() -> bool:
            demo.check_workers()
            return demo.deployment()[0] == 0 and not demo.pods.running()

        wait_until(at_zero, "the idle pool at zero", 2 * PERIOD_SECONDS)
        wait_until(lambda: processed() >= 1, "a schedule tick run", 2 * PERIOD_SECONDS)
        ran_at = time.time()
        assert ran_at % PERIOD_SECONDS < 10, "the tick ran late: the pool woke too late"
        wait_until(at_zero, "back at zero after the tick", PERIOD_SECONDS)
        # The first wake showed how long the pods take to start: the next is just in time
        # (that plus one poll, not the 15 s lookahead).
        startup = float(demo.pool_status()["startupSeconds"])
        wait_until(lambda: demo.deployment()[0], "woken for the next tick", 2 * PERIOD_SECONDS)
        lead = -time.time() % PERIOD_SECONDS
        assert lead <= startup + OPTIONS.poll_seconds + 2, f"woken {lead:.1f}s before the tick"
        wait_until(lambda: processed() >= 2, "the next tick run", PERIOD_SECONDS)
        assert time.time() % PERIOD_SECONDS < 10, "the next tick ran late: woken too late"
