"""`python -m devenv.realnode up|down|images|status` (see `devenv.realnode`).

`up` builds what is missing, then starts a supervisor process in its own session that runs
the node and stays until `down`; `down` stops it and restores the host, also after a crash.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devenv.processes import WaitTimeout, wait_until
from devenv.realnode import host
from devenv.realnode.node import (
    HACK,
    Binaries,
    RealNode,
    RealNodeError,
    build,
    build_images,
    requirements_missing,
)

log = logging.getLogger("devenv.realnode")

STATUS_FILE = Path("/run/kasynq-realnode.json")
UP_TIMEOUT_SECONDS = 300.0
DOWN_TIMEOUT_SECONDS = 120.0


def _status() -> dict[str, object] | None:
    try:
        status: dict[str, object] = json.loads(STATUS_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return status


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _cached_binaries() -> Binaries:
    """The binary directories without building (for `down` and `status`)."""
    from devenv.devcluster import BUILD_SCRIPT

    def bin_dir(script: Path) -> Path:
        result = subprocess.run(
            ["bash", str(script), "--bin-dir"], capture_output=True, text=True, check=True
        )
        return Path(result.stdout.strip())

    return Binaries(bin_dir(BUILD_SCRIPT), bin_dir(HACK / "build.sh"))


def serve(images: Path) -> int:
    """The supervisor: run the node until SIGTERM, then take it down."""
    node = RealNode(_cached_binaries())
    stop = False

    def on_term(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    node.up(images)
    STATUS_FILE.write_text(
        json.dumps({"pid": os.getpid(), "state": "ready", "kubeconfig": str(node.kubeconfig)})
    )
    try:
        while not stop:
            signal.pause()
    finally:
        node.down()
        STATUS_FILE.unlink(missing_ok=True)
    return 0


def up() -> int:
    status = _status()
    if status is not None and _alive(int(str(status["pid"]))):
        log.info("realnode is already up kubeconfig=%s", status.get("kubeconfig"))
        return 0
    started = time.monotonic()
    binaries = build()
    images = build_images(binaries)
    log_path = images.parent / "up.log"
    log.info("realnode starting the supervisor log=%s", log_path)
    with log_path.open("ab") as log_file:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "devenv.realnode", "serve", str(images)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    STATUS_FILE.write_text(json.dumps({"pid": supervisor.pid, "state": "starting"}))
    try:
        wait_until(
            lambda: (_status() or {}).get("state") == "ready",
            "the real node to be up",
            UP_TIMEOUT_SECONDS,
            interval=0.5,
            process=supervisor,
        )
    except WaitTimeout as exc:
        tail = log_path.read_text(errors="replace")[-3000:]
        log.error("realnode up failed: %s\n%s", exc, tail)
        down()
        return 1
    log.info(
        "realnode up seconds=%.1f; export KUBECONFIG=%s",
        time.monotonic() - started,
        (_status() or {}).get("kubeconfig"),
    )
    return 0


def down() -> int:
    started = time.monotonic()
    status = _status()
    if status is not None:
        pid = int(str(status["pid"]))
        if _alive(pid):
            os.kill(pid, signal.SIGTERM)
            try:
                wait_until(lambda: not _alive(pid), "the supervisor to stop", DOWN_TIMEOUT_SECONDS)
            except WaitTimeout:
                os.kill(pid, signal.SIGKILL)
        STATUS_FILE.unlink(missing_ok=True)
    # After a crash of the supervisor: its children died with it, the host is still changed.
    RealNode(_cached_binaries()).down()
    log.info("realnode down seconds=%.1f", time.monotonic() - started)
    return 0


def show_status() -> int:
    status = _status()
    if status is None or not _alive(int(str(status["pid"]))):
        print("realnode: down" + (" (host state recorded: run down)" if host.recorded() else ""))
        return 1
    print(f"realnode: {status['state']} (supervisor pid {status['pid']})")
    if status.get("kubeconfig"):
        print(f"export KUBECONFIG={status['kubeconfig']}")
        node = RealNode(_cached_binaries())
        print(node.kubectl("get", "nodes,pods", "-A", "-o", "wide"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.realnode", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "images", "status", "serve"])
    parser.add_argument("images", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.command != "status" and (reason := requirements_missing()):
        log.error("realnode cannot run here: %s", reason)
        return 2
    try:
        if args.command == "up":
            return up()
        if args.command == "down":
            return down()
        if args.command == "images":
            print(build_images(build()))
            return 0
        if args.command == "serve":
            return serve(Path(args.images))
        return show_status()
    except RealNodeError as exc:
        log.error("realnode failed: %s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
