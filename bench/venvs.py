"""Virtualenvs for the peer task queues, kept under the cache and never in the project's deps.

arq pins `redis<6` while kombu's Redis transport needs a newer redis-py, so the peers live in
two virtualenvs: `peers` (Celery, RQ, Dramatiq, and matplotlib for the charts) and `arq`.
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

PEER_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "peers": ("celery[redis]", "rq", "dramatiq[redis]", "hiredis", "matplotlib"),
    "arq": ("arq", "hiredis"),
}


def cache_dir() -> Path:
    """$KASYNQ_CACHE, or ~/.cache/kasynq (the Makefile exports the same default)."""
    configured = os.environ.get("KASYNQ_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "kasynq"


@dataclass(frozen=True)
class Venv:
    """One virtualenv under `$KASYNQ_CACHE/bench-venv/<name>`."""

    name: str
    requirements: tuple[str, ...]

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
        digest = hashlib.sha1("\n".join(self.requirements).encode()).hexdigest()[:12]
        return self.root / f".installed-{digest}"

    def ensure(self) -> None:
        """Create the venv and install its requirements once; a second call does nothing."""
        if self._stamp.exists():
            return
        log.info("installing bench venv=%s requirements=%s", self.name, " ".join(self.requirements))
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.root)], check=True)
        pip = [str(self.python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *self.requirements], check=True)
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


PEERS_VENV = Venv("peers", PEER_REQUIREMENTS["peers"])
ARQ_VENV = Venv("arq", PEER_REQUIREMENTS["arq"])
ALL_VENVS = (PEERS_VENV, ARQ_VENV)
