"""A scheduler process for the multi-process tests: `python -m tests.scheduler_runner ...`.

Runs one `Scheduler` with the config file's `schedules:` and writes its status as JSON to
`--status-file` on every change (written atomically), so a test can see roles and counters
of each process, also of one it SIGSTOPped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path

import redis.asyncio
from kasynq.periodic import cancel_and_wait
from kasynq.scheduler import Scheduler, SchedulerStatus


def _writer(path: Path) -> object:
    def write(status: SchedulerStatus) -> None:
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps({**status.as_dict(), "pid": os.getpid()}))
        partial.replace(path)

    return write


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--status-file", type=Path, required=True)
    parser.add_argument("--group", default="default")
    parser.add_argument("--lock-ttl", type=float, default=None, help="default: Scheduler's")
    parser.add_argument("--misfire-grace", type=float, default=None)
    parser.add_argument("--heartbeat", type=float, default=1.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    client = redis.asyncio.Redis.from_url(args.redis_url, socket_timeout=2)
    timings = {} if args.lock_ttl is None else {"lock_ttl": args.lock_ttl}
    scheduler = Scheduler(
        client,
        group=args.group,
        misfire_grace=args.misfire_grace,
        heartbeat_interval=args.heartbeat,
        **timings,
    )
    write = _writer(args.status_file)
    scheduler.add_listener(write)  # type: ignore[arg-type]
    write(scheduler.status)  # type: ignore[operator]
    runner = asyncio.create_task(scheduler.run())
    watcher = asyncio.create_task(scheduler.watch_file(args.config, interval=0.5))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({runner, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (runner, watcher, stopping):
            await cancel_and_wait(task, "scheduler runner", 5.0)
        await client.aclose()


if __name__ == "__main__":
    asyncio.run(main())
