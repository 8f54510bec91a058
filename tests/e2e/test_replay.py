"""The simulator checked against reality: one scenario replayed on the local control plane.

Real etcd, kube-apiserver and kube-controller-manager, a real Redis, the `kasynq-operator`
process and one `kasynq worker` process per pod (the kubelet stand-in) get the scenario's
exact tasks at their arrival times; the pods they run must land within 20 % of the
simulator's pod-seconds and peak.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from devenv.simulator.replay import REPLAY, replay, simulate

log = logging.getLogger(__name__)
TOLERANCE = 0.2


def test_the_simulator_matches_the_real_loop_within_20_percent(
    kube_bin_dir: Path, tmp_path: Path
) -> None:
    del kube_bin_dir  # the fixture builds (or finds) the binaries and marks requires_kube
    real = replay(REPLAY, tmp_path)
    simulated = simulate(REPLAY)
    log.info(
        "replay pod_seconds real=%.0f simulated=%.0f peak real=%d simulated=%d enqueued=%d",
        real.pod_seconds,
        simulated.pod_seconds,
        real.peak,
        simulated.peak,
        real.enqueued,
    )
    assert real.enqueued == simulated.enqueued
    assert real.pod_seconds == pytest.approx(simulated.pod_seconds, rel=TOLERANCE), real.pods
    assert real.peak == pytest.approx(simulated.peak, rel=TOLERANCE), real.pods
