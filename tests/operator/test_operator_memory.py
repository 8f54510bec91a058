"""What keeps the operator's memory small at 1,000 pools (issue #18: at most 150 MiB there;
`make bench` measures it, these tests pin the mechanisms)."""

from __future__ import annotations

import subprocess
import sys

GENERATED_APIS = (
    "kubernetes.client.api.core_v1_api",
    "kubernetes.client.api.apps_v1_api",
    "kubernetes.client.api.custom_objects_api",
)


def test_operator_does_not_load_the_generated_api_classes() -> None:
    """The generated API classes import hundreds of pydantic models and build a validator per
    method (about 26 MiB); the operator's calls go through ApiClient as plain JSON."""
    probe = (
        "import sys\n"
        "from kubernetes import client\n"
        "from kasynq_operator import handlers, main\n"
        "from kasynq_operator.kube import KubeApi\n"
        "KubeApi(client.ApiClient())\n"
        f"print([name for name in {GENERATED_APIS!r} if name in sys.modules])\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert loaded == "[]"
