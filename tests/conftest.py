"""Shared fixtures: real Redis servers, the Go toolchain marker, the Kubernetes control plane."""

import pytest

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.golang",
    "tests.fixtures.broker",
    "tests.fixtures.kube",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The interop tests first, in their usual order (the sort is stable): `make test` runs the
    real-node tests beside the rest (devenv/testrun.py), and the interop tests, which wait on
    Go's lease and recoverer timings with wide margins, stand that load best."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/interop/"))
