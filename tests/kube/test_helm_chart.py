"""The Helm chart lints, renders, and the API server accepts what it renders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.fixtures.kube import REPO, Kube, project_crd_files

CHART = REPO / "helm" / "kasynq"


def _helm(bin_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [str(bin_dir / "helm"), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"helm {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout


def test_chart_crds_are_the_project_crds() -> None:
    chart_crds = {path.name: path.read_text() for path in (CHART / "crds").glob("*.yaml")}
    assert chart_crds == {path.name: path.read_text() for path in project_crd_files()}


@pytest.mark.requires_kube
def test_helm_lint_passes(kube_bin_dir: Path) -> None:
    output = _helm(kube_bin_dir, "lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in output


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={team-a,team-b}"]])
def test_rendered_chart_is_accepted_by_the_api_server(
    kube: Kube, namespace: str, values: list[str]
) -> None:
    rendered = _helm(
        kube.bin_dir,
        "template", "kasynq", str(CHART), "--namespace", namespace, *values,
    )  # fmt: skip
    assert "kind: Deployment" in rendered
    # The operator's Pod must meet Pod Security "restricted"; for a Deployment the API server
    # reports a violation as a warning on stderr.
    kube.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    result = kube.cluster.kubectl(
        "apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=rendered
    )
    assert result.returncode == 0, result.stderr
    assert "deployment.apps/kasynq created (server dry run)" in result.stdout
    assert "clusterrole.rbac.authorization.k8s.io/kasynq created (server dry run)" in result.stdout
    assert "PodSecurity" not in result.stderr
