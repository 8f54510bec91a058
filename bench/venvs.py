"""Virtualenvs for the peer task queues, kept under the cache and never in the project's deps.

arq pins `redis<6` while kombu's Redis transport needs a newer redis-py, so the peers live in
two virtualenvs: `peers` (Celery, RQ, Dramatiq, and matplotlib for the charts) and `arq`. Each
installs from its lock, requirements/bench-<name>.lock (`make lock` recompiles them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REQUIREMENTS_DIR = Path(__file__).resolve().parent.parent / "requirements"


def cache_dir() -> Path:
    """$KASYNQ_CACHE, or ~/.cache/kasynq (the Makefile exports the same default)."""
    configured = os.environ.get("KASYNQ_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "kasynq"


@dataclass(frozen=True)
class Venv:
    """One virtualenv under `$KASYNQ_CACHE/bench-venv/<name>`."""

    name: str

    @property
    def lock(self) -> Path:
        return REQUIREMENTS_DIR / f"bench-{self.name}.lock"

    @property
    def root(self) -> Path:
        return cache_dir() / "bench-venv" / self.name

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, program: str) -> Path:
        return self.root / "bin" / program

    @property
    def _stamp(self) -> Path:
        digest = hashlib.sha1(self.lock.read_bytes()).hexdigest()[:12]
        return self.root / f".installed-{digest}"

    def ensure(self) -> None:
        """Create the venv and install its requirements once; a second call does nothing."""
        if self._stamp.exists():
            return
        log.info("installing bench venv=%s lock=%s", self.name, self.lock.name)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.root)], check=True)
        pip = [str(self.python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--require-hashes", "--no-deps", "-r", str(self.lock)], check=True)
        self._stamp.touch()

    def versions(self) -> dict[str, str]:
        """Installed distribution versions, by lower-case name."""
        listing = subprocess.run(
            [str(self.python), "-m", "pip", "list", "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return {item["name"].lower(): item["version"] for item in json.loads(listing)}


PEERS_VENV = Venv("peers")
ARQ_VENV = Venv("arq")
ALL_VENVS = (PEERS_VENV, ARQ_VENV)
