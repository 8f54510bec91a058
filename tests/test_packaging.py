"""What ships and how it installs: the locks, the wheel, the lean core install, the front door."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import kasynq
import pytest
from packaging.requirements import Requirement

from devenv import lockfile

REPO = Path(__file__).resolve().parents[1]
OPERATOR_ONLY = ("kopf", "kubernetes", "aiohttp", "pydantic")
DEVELOPMENT_MODULES = ("demo", "devcluster", "kubelet_standin")


def _pyproject() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


def test_locks_match_pyproject() -> None:
    assert lockfile.stale_locks() == [], "a lock is stale: run `make lock`"


def test_a_changed_dependency_makes_the_locks_stale(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    for lock in (REPO / "requirements").iterdir():
        (tmp_path / "requirements" / lock.name).write_bytes(lock.read_bytes())
    text = (REPO / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('"click>=8.1"', '"click>=8.2"'))
    assert len(lockfile.stale_locks(tmp_path)) == len(lockfile.LOCKS)


@pytest.mark.parametrize(
    ("lock", "extras"),
    # the operator image runs `kasynq web` too: its lock must carry the web extra
    [("core", ()), ("operator", ("operator", "web")), ("dev", ("dev", "web"))],
)
def test_lock_pins_satisfy_pyproject(lock: str, extras: tuple[str, ...]) -> None:
    """Every direct requirement of the install is pinned, at a version its range allows."""
    project = _pyproject()
    optional = project["optional-dependencies"]
    assert isinstance(optional, dict)
    wanted = [Requirement(text) for text in project["dependencies"]]  # type: ignore[attr-defined]
    for extra in extras:
        wanted += [Requirement(text) for text in optional[extra] if not text.startswith("kasynq")]
    pins = lockfile.pins(REPO / "requirements" / f"{lock}.lock")
    environment = {"sys_platform": "linux", "extra": ""}
    for requirement in wanted:
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{requirement} is not pinned in {lock}.lock"
        assert requirement.specifier.contains(pins[name]), f"{lock}.lock pins {name}=={pins[name]}"


def test_core_lock_has_no_operator_packages() -> None:
    pins = lockfile.pins(REPO / "requirements" / "core.lock")
    assert not set(pins) & set(OPERATOR_ONLY)
    assert {"kopf", "kubernetes"} <= set(lockfile.pins(REPO / "requirements" / "operator.lock"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The wheel `pip wheel .` builds, and what the build printed.

    Built from a copy of what the Dockerfiles copy (setuptools leaves build/ and egg-info
    behind in the tree it builds), which also shows nothing else is needed.
    """
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    for tree in ("worker", "operator"):
        shutil.copytree(REPO / tree, source / tree, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"),
            *("--disable-pip-version-check", "-v", "-w", str(out), str(source)),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    (path,) = out.glob("kasynq-*.whl")
    yield path, build.stdout + build.stderr


def test_wheel_ships_no_development_tooling(wheel: tuple[Path, str]) -> None:
    names = zipfile.ZipFile(wheel[0]).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("kasynq-")}
    assert packages == {"kasynq", "kasynq_operator"}
    modules = {Path(name).stem for name in names if name.endswith(".py")}
    assert not modules & set(DEVELOPMENT_MODULES)
    assert "kasynq/broker/lua/dequeue.lua" in names
    # The console's assets ship in the wheel: nothing is fetched at run time.
    assert {"kasynq/web/static/console.js", "kasynq/web/static/console.css"} <= set(names)


def test_wheel_metadata_license_is_spdx(wheel: tuple[Path, str]) -> None:
    with zipfile.ZipFile(wheel[0]) as archive:
        metadata = archive.read(f"kasynq-{kasynq.__version__}.dist-info/METADATA").decode()
        assert any(name.endswith("licenses/LICENSE") for name in archive.namelist())
    assert "License-Expression: MIT" in metadata
    assert "Provides-Extra: operator" in metadata
    assert "deprecat" not in wheel[1].lower(), "the build printed a deprecation warning"


def test_shipped_code_never_imports_development_tooling() -> None:
    for source in [*(REPO / "worker").rglob("*.py"), *(REPO / "operator").rglob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not roots & {"devenv", "tests", "bench"}, f"{source} imports {roots}"


def test_core_install_runs_the_worker_without_operator_packages(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    """A fresh venv with requirements/core.lock and the wheel: `kasynq worker --help` works."""
    venv = tmp_path / "venv"
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    lock = REPO / "requirements" / "core.lock"
    subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(lock)], check=True, env=env)
    subprocess.run([*pip, "--no-deps", str(wheel[0])], check=True, env=env)
    subprocess.run([python, "-m", "pip", "check"], check=True, capture_output=True, env=env)
    probe = "import importlib.util as u, kasynq; print([m for m in %r if u.find_spec(m)])"
    found = subprocess.run(
        [python, "-c", probe % (OPERATOR_ONLY,)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tmp_path,
    ).stdout.strip()
    assert found == "[]"
    help_text = subprocess.run(
        [str(venv / "bin" / "kasynq"), "worker", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert "--handlers" in help_text
    console = subprocess.run(
        [str(venv / "bin" / "kasynq"), "web", "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert console.returncode == 2
    assert "kasynq web needs the web extra (pip install 'kasynq[web]')" in console.stderr


def test_front_door_exports_what_a_user_needs() -> None:
    needed = {"Client", "AsyncClient", "Task", "ServeMux", "Server", "Inspector"}
    needed |= {"AsyncInspector", "TaskContext", "SkipRetry", "RevokeTask", "TaskInfo"}
    assert needed <= set(kasynq.__all__)
    for name in kasynq.__all__:
        assert getattr(kasynq, name) is not None
