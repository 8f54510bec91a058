"""A real one-node Kubernetes cluster on this machine: kubelet, containerd and runc running
our images, for `tests/realnode/` and `make demo-node`.

`python -m devenv.realnode up|down|images|status`. Needs root; the recipe, its blockers and
the network rule are in docs/architecture.md ("The real node").
"""
