"""The development tooling says what it is doing, and cleans up after itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devenv import devcluster
from devenv.processes import WaitTimeout, wait_until

REPO = Path(__file__).resolve().parents[1]


def test_build_progress_reaches_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A cold control-plane build takes minutes: its progress lines must not be swallowed."""
    script = tmp_path / "build.sh"
    script.write_text(f'echo "k8s-bins: building kube-apiserver" >&2\necho {tmp_path}\n')
    monkeypatch.setattr(devcluster, "BUILD_SCRIPT", script)
    monkeypatch.delenv(devcluster.BIN_DIR_ENV, raising=False)
    assert devcluster.build_binaries() == tmp_path
    assert "k8s-bins: building kube-apiserver" in capfd.readouterr().err


def test_build_script_reports_long_steps() -> None:
    """`progress` (hack/k8s/lib.sh, used by the build scripts) prints a line while a step
    runs and its duration."""
    source = (REPO / "hack" / "k8s" / "lib.sh").read_text()
    function = source[
        source.index("progress() {") : source.index("\n}\n", source.index("progress() {")) + 3
    ]
    script = 'log() { echo "k8s-bins: $*" >&2; }\n' + function.replace("sleep 30", "sleep 0.2")
    script += "progress demo-step sleep 0.5\n"
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert "k8s-bins: demo-step: still at work" in result.stderr
    assert "k8s-bins: demo-step: done in" in result.stderr


def test_wait_until_names_what_it_waited_for() -> None:
    with pytest.raises(WaitTimeout, match="waiting for the moon"):
        wait_until(lambda: False, "the moon", 0.1)
    process = subprocess.Popen(["true"])
    process.wait()
    with pytest.raises(WaitTimeout, match="exited with 0"):
        wait_until(lambda: False, "a server", 5, process=process)
