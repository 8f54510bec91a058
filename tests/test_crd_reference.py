"""docs/crd-reference.md is generated from crds/*.yaml: fail when someone changed one only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_crd_reference_matches_the_schemas() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "hack" / "crd_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
