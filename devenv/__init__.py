"""Development tooling for kasynq: the demo, the local control plane, the kubelet stand-in,
the real-node harness and the process and Redis helpers that tests and benchmarks share.

Never shipped: it is not in the wheel (a test checks) nor in any image.
"""
