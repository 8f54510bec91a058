"""A real one-node Kubernetes cluster on this machine: kubelet, containerd and runc running
our images, for `tests/realnode/` and `make demo-node`.

`python -m devenv.realnode up|down|images|status`. Needs root; what it runs and how the
network stays on the machine: docs/architecture.md, "The real node".
"""
