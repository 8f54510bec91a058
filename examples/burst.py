"""Enqueue a burst of `demo:work` tasks (see handlers.py) to watch a pool scale.

    python burst.py --tasks 5000 --ms 50 --queue default:work

The Redis URL comes from KASYNQ_REDIS_URL. The queue is the AsynqQueue's Redis name,
`<namespace>:<name>`.
"""

from __future__ import annotations

import argparse
import json
import os

from kasynq import Client, Task

CHUNK = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description="Enqueue a burst of demo:work tasks.")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--ms", type=int, default=50, help="how long each task sleeps")
    parser.add_argument("--queue", default="default:work", help="Redis name of the queue")
    parser.add_argument(
        "--record", help="Redis hash where handlers.py counts each task's runs (exactly once)"
    )
    args = parser.parse_args()
    url = os.environ.get("KASYNQ_REDIS_URL", "redis://redis:6379/0")
    with Client.from_url(url) as client:
        for start in range(0, args.tasks, CHUNK):
            count = min(CHUNK, args.tasks - start)
            payloads: list[dict[str, object]] = [
                {"n": start + i, "ms": args.ms} for i in range(count)
            ]
            if args.record:
                for payload in payloads:
                    payload["record"] = args.record
            tasks = [Task("demo:work", json.dumps(payload).encode()) for payload in payloads]
            failures = [
                r for r in client.enqueue_many(tasks, queue=args.queue) if isinstance(r, Exception)
            ]
            if failures:
                raise SystemExit(f"enqueue failed: {failures[0]!r}")
    print(f"enqueued {args.tasks} tasks of {args.ms} ms to {args.queue}")


if __name__ == "__main__":
    main()
