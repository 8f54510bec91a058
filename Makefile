# kasynq — every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export KASYNQ_CACHE ?= $(HOME)/.cache/kasynq
DEPS_STAMP := $(VENV)/.deps-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: help test lint typecheck pytest venv system-deps proto proto-check k8s-bins crd-reference demo bench bench-quick clean

help:
	@echo "make demo   - the whole autoscaling loop on one machine"
	@echo "make test   - set up, then ruff, mypy and the full pytest suite"
	@echo "make bench  - benchmarks, written to docs/benchmarks.md"
	@echo "make proto  - regenerate worker/kasynq/proto from asynq.proto"
	@echo "make k8s-bins - build the local Kubernetes control plane (etcd, apiserver, kubectl, helm)"

$(DEPS_STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.deps-* && touch $@

venv: $(DEPS_STAMP)

system-deps:
	@bash hack/system-deps.sh

lint: venv
	$(VENV)/bin/ruff check worker operator tests bench
	$(VENV)/bin/ruff format --check worker operator tests bench

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv system-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

proto: venv
	$(PY) -m grpc_tools.protoc -Iworker --python_out=worker --pyi_out=worker worker/kasynq/proto/asynq.proto

k8s-bins:
	bash hack/k8s/build.sh

crd-reference: venv
	$(PY) hack/crd_reference.py

# DEMO_ARGS: e.g. "--tasks 20000 --task-ms 20 --max-replicas 20" (see --help)
demo: venv system-deps
	$(PY) -m kasynq_operator.demo $(DEMO_ARGS)

bench: venv system-deps
	$(PY) -m bench $(BENCH_ARGS)

bench-quick: BENCH_ARGS = --quick
bench-quick: bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
