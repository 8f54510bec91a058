"""`python -m bench`: run the benchmarks and regenerate docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path

from bench.report import render_page
from bench.results import Results
from bench.runner import WORKLOADS, run_session
from bench.stats import Failed
from bench.systems import REPO_ROOT, all_systems
from bench.venvs import PEERS_VENV
from bench.workloads import FULL, QUICK, Params, new_workdir

log = logging.getLogger("bench")

PAGE = REPO_ROOT / "docs" / "benchmarks.md"
ASSETS = REPO_ROOT / "docs" / "benchmarks"


def _parse() -> argparse.Namespace:
    keys = [system.key for system in all_systems()]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one run per row, fewer tasks")
    parser.add_argument(
        "--systems", default=",".join(keys), help=f"comma-separated, from {','.join(keys)}"
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help=f"comma-separated: {','.join(WORKLOADS)}"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help=f"re-render the page from {ASSETS.relative_to(REPO_ROOT)}/results.json",
    )
    args = parser.parse_args()
    for name, allowed in (("systems", keys), ("workloads", WORKLOADS)):
        unknown = set(getattr(args, name).split(",")) - set(allowed)
        if unknown:
            parser.error(f"--{name}: unknown {', '.join(sorted(unknown))}")
    return args


def _describe(params: Params) -> str:
    return (
        f"{params.runs} run(s) per row, enqueue {params.enqueue_count:,} tasks, "
        f"drain {params.drain_count:,} tasks, latency {params.latency_count} tasks at "
        f"{params.latency_rate:.0f}/s, redis-benchmark -n {params.ceiling_requests:,}"
    )


def _charts(results_path: Path) -> dict[str, str]:
    """Draw the PNGs with the peers venv's matplotlib; {workload: path relative to docs/}."""
    PEERS_VENV.ensure()
    drawn = subprocess.run(
        [str(PEERS_VENV.python), "-m", "bench.charts", str(results_path), str(ASSETS)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {name.removesuffix(".png"): f"benchmarks/{name}" for name in drawn}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _parse()
    params = QUICK if args.quick else FULL
    results_path = ASSETS / "results.json"
    if args.report_only:
        results = Results.load(results_path)
    else:
        chosen = set(args.systems.split(","))
        systems = [system for system in all_systems() if system.key in chosen]
        workdir = new_workdir()
        log.info("bench starting workdir=%s quick=%s", workdir, args.quick)
        workloads = args.workloads.split(",")
        results = run_session(systems, workloads, params, args.quick, workdir)
        every_system = len(systems) == len(all_systems())
        if (set(workloads) != set(WORKLOADS) or not every_system) and results_path.exists():
            measured = None if every_system else [system.key for system in systems]
            results = results.merged_into(Results.load(results_path), workloads, measured)
        results.save(results_path)
        if any(isinstance(value, Failed) for row in results.rows
               for values in row.metrics.values() for value in values):  # fmt: skip
            log.warning("some runs failed: their process logs are kept in workdir=%s", workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    params_text = _describe(QUICK if results.quick else FULL)
    # The real-node figures come from `make bench-node` (bench/realnode.py); kept across runs.
    realnode_path = ASSETS / "realnode.json"
    realnode = json.loads(realnode_path.read_text()) if realnode_path.exists() else None
    PAGE.write_text(render_page(results, _charts(results_path), params_text, realnode))
    log.info("wrote page=%s", PAGE)


if __name__ == "__main__":
    main()
