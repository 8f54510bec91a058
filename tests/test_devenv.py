"""The development tooling says what it is doing, and cleans up after itself."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devenv import devcluster, testrun
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


@pytest.mark.parametrize(
    ("here", "beside", "fails"),
    [
        ("ok", "ok", False),
        ("bad", "ok", True),
        ("ok", "bad", True),
        ("ok", "empty", True),  # pytest's exit 5, "no tests ran", is not green
    ],
)
def test_the_split_run_fails_when_either_process_fails(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    here: str,
    beside: str,
    fails: bool,
) -> None:
    """`make test` runs the real-node tests beside the rest: a failure on either side, or
    a side that ran nothing, fails the step, and the side's output is shown."""
    (tmp_path / "empty").mkdir()
    for name, body in (("ok", "assert True"), ("bad", "assert False")):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"test_{name}.py").write_text(f"def test_{name}():\n    {body}\n")
    common = ["-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path)]
    code = testrun.run_split([*common, str(tmp_path / here)], [*common, str(tmp_path / beside)])
    assert (code != 0) is fails
    assert f"pytest {' '.join(common)} {tmp_path / beside}, run beside the rest" in (
        capsys.readouterr().out
    )
