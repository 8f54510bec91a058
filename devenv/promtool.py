"""promtool (Prometheus's rule checker and unit tester), built from its Go module.

Used by tests/test_alerts.py to evaluate the chart's alert expressions exactly as Prometheus
does. The Prometheus module is large: a cold build downloads a few hundred MB of modules and
takes minutes on 2 cores; the binary is cached in $KASYNQ_CACHE/go afterwards.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from devenv.goasynq import cache_dir

log = logging.getLogger(__name__)

MODULE = "github.com/prometheus/prometheus/cmd/promtool"
VERSION = "v0.316.0"
"""Prometheus 3.x's Go module version (v0.3XX.Y is Prometheus 3.XX.Y)."""
BUILD_TAGS = "remove_all_sd"
"""Leave out every service-discovery plugin (Prometheus 3.10+): rule tests need none, and
their cloud SDKs were most of a cold build."""


def build() -> Path:
    """The promtool binary, built with `go install` on first use."""
    target_dir = cache_dir() / f"promtool-{VERSION}-{BUILD_TAGS}"
    binary = target_dir / "promtool"
    if binary.exists():
        return binary
    target_dir.mkdir(parents=True, exist_ok=True)
    log.info("building promtool module=%s version=%s (cold: minutes)", MODULE, VERSION)
    subprocess.run(
        ["nice", "-n", "10", "go", "install", "-tags", BUILD_TAGS, f"{MODULE}@{VERSION}"],
        env={**os.environ, "GOBIN": str(target_dir)},
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return binary
