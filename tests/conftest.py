"""Shared fixtures: real Redis servers, the Go toolchain marker, the Kubernetes control plane."""

pytest_plugins = [
    "tests.fixtures.redis",
    "tests.fixtures.golang",
    "tests.fixtures.broker",
    "tests.fixtures.kube",
]
