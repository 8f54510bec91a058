# kasynq — every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export KASYNQ_CACHE ?= $(HOME)/.cache/kasynq
LOCK := requirements/dev.lock
# Reinstall only when the lock or the project metadata changes.
DEPS_STAMP := $(VENV)/.deps-$(shell cat $(LOCK) pyproject.toml | sha1sum | cut -c1-12)

.PHONY: help lock test lint typecheck prebuild pytest venv system-deps proto proto-check k8s-bins crd-reference demo demo-node node-up node-down bench bench-quick bench-node clean

help:
	@echo "make demo   - the whole autoscaling loop on one machine (kubelet stand-in, fast)"
	@echo "make demo-node - the same loop on a real node: real kubelet, containers, chart (root)"
	@echo "make node-up / node-down - a real one-node cluster (python -m devenv.realnode)"
	@echo "make test   - set up, then ruff, mypy and the full pytest suite"
	@echo "make bench  - benchmarks, written to docs/benchmarks.md"
	@echo "make lock   - recompile requirements/*.lock after changing dependencies"
	@echo "make proto  - regenerate worker/kasynq/proto from asynq.proto"
	@echo "make k8s-bins - build the local Kubernetes control plane (etcd, apiserver, kubectl, helm)"

# Everything comes from the lock (hashes checked), then the project itself with --no-deps.
$(DEPS_STAMP): $(LOCK) pyproject.toml
	@test -x $(PY) || { echo "venv: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "venv: installing $(LOCK) (about 30 s on a fresh machine)"
	@$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.deps-* && touch $@

# Recompile requirements/*.lock from pyproject.toml with uv (see README, "Dependencies").
lock: venv
	bash hack/lock.sh

venv: $(DEPS_STAMP)

system-deps:
	@bash hack/system-deps.sh

lint: venv
	$(VENV)/bin/ruff check worker operator devenv tests bench
	$(VENV)/bin/ruff format --check worker operator devenv tests bench

typecheck: venv
	$(VENV)/bin/mypy

# Go programs (control plane, interop) are built here, with progress, not inside pytest.
prebuild: venv
	@$(PY) -m devenv.prebuild

# Without PYTEST_ARGS: the real-node tests in a second pytest process beside the rest.
pytest: venv system-deps prebuild
	$(PY) -m devenv.testrun $(PYTEST_ARGS)

test: lint typecheck pytest

proto: venv
	$(PY) -m grpc_tools.protoc -Iworker --python_out=worker --pyi_out=worker worker/kasynq/proto/asynq.proto

k8s-bins:
	bash hack/k8s/build.sh

crd-reference: venv
	$(PY) hack/crd_reference.py

# DEMO_ARGS: e.g. "--tasks 20000 --task-ms 20 --max-replicas 20" (see --help)
demo: venv system-deps
	$(PY) -m devenv.demo $(DEMO_ARGS)

# The same loop on the real node (devenv.realnode, needs root): our images, the chart's
# operator in-cluster, Redis from examples/redis.yaml, real worker pods.
demo-node: venv system-deps
	$(PY) -m devenv.demo --real-node $(DEMO_ARGS)

node-up: venv
	$(PY) -m devenv.realnode up

node-down: venv
	$(PY) -m devenv.realnode down

# The real-node row of docs/benchmarks.md: the example pool on the real node.
bench-node: venv system-deps
	$(PY) -m devenv.realnode.bench

bench: venv system-deps prebuild
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: BENCH_ARGS = --quick
bench-quick: bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
