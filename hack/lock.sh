#!/usr/bin/env bash
# Regenerate requirements/*.lock from pyproject.toml (and requirements/bench-*.in) with uv:
# universal (every platform and Python >= 3.11), with hashes. `make lock` runs this; CI and
# every make target install only from these files.
set -euo pipefail
cd "$(dirname "$0")/.."
uv="${UV:-.venv/bin/uv}"
inputs_digest="$(python3 -m devenv.lockfile digest)"
compile() {  # compile <lock name> <uv pip compile arguments...>
    local name="$1"
    shift
    echo "lock: requirements/$name.lock" >&2
    "$uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "make lock" "$@" -o "requirements/$name.lock"
    printf '# kasynq-inputs-sha256: %s\n' "$inputs_digest" >>"requirements/$name.lock"
}
compile core pyproject.toml
compile operator pyproject.toml --extra operator
compile dev pyproject.toml --extra dev
compile bench-peers requirements/bench-peers.in
compile bench-arq requirements/bench-arq.in
