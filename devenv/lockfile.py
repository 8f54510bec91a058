"""The lock files under requirements/: what they were compiled from, and whether they are stale.

`make lock` (hack/lock.sh) appends `# kasynq-inputs-sha256: <digest>` to every lock, the digest
of the dependency declarations it was compiled from. A lock whose digest differs from today's
inputs, or whose pins no longer satisfy pyproject.toml, is stale.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
DIGEST_PREFIX = "# kasynq-inputs-sha256: "
LOCKS = ("core", "operator", "dev", "bench-peers", "bench-arq")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def inputs_digest(root: Path = ROOT) -> str:
    """sha256 over the project's dependency tables and the bench peers' .in files."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    inputs = {
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
        "in": {p.name: p.read_text() for p in sorted((root / "requirements").glob("*.in"))},
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def pins(lock: Path) -> dict[str, str]:
    """Package name (normalised) to pinned version."""
    return {
        re.sub(r"[-_.]+", "-", name).lower(): version
        for name, version in _PIN.findall(lock.read_text())
    }


def recorded_digest(lock: Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def stale_locks(root: Path = ROOT) -> list[str]:
    """One line per lock that does not match today's inputs; empty when all are current."""
    want = inputs_digest(root)
    problems = []
    for name in LOCKS:
        lock = root / "requirements" / f"{name}.lock"
        if not lock.exists():
            problems.append(f"requirements/{name}.lock is missing")
        elif recorded_digest(lock) != want:
            problems.append(f"requirements/{name}.lock was compiled from other inputs")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["digest"]:
        sys.stdout.write(inputs_digest() + "\n")
        return 0
    if argv == ["check"]:
        problems = stale_locks()
        for problem in problems:
            sys.stderr.write(f"{problem}; run `make lock`\n")
        return 1 if problems else 0
    sys.stderr.write("usage: python -m devenv.lockfile digest|check\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
