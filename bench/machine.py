"""What the benchmark ran on: CPU, memory, OS and the versions of the shared tools."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def _first_line_with(path: Path, prefix: str) -> str:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _command_output(*argv: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "not installed"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0] if result.returncode == 0 else "?"
    )


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "?")
    except OSError:
        return "?"


def describe() -> dict[str, str]:
    memory_kib = _first_line_with(Path("/proc/meminfo"), "MemTotal").split()[0]
    return {
        "CPU model": _first_line_with(Path("/proc/cpuinfo"), "model name"),
        "cores": str(os.cpu_count()),
        "memory": f"{int(memory_kib) / 1024 / 1024:.1f} GiB" if memory_kib.isdigit() else "?",
        "kernel": platform.release(),
        "OS": _os_name(),
        "Python": platform.python_version(),
        "redis-server": _command_output("redis-server", "--version"),
        "redis-benchmark": _command_output("redis-benchmark", "--version"),
    }
