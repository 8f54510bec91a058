"""RQ: one job at a time per process. Worker: `rq worker -w rq.worker.SimpleWorker`."""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Queue

from bench.peers.common import Item, producer_main, record, redis_url

# By import path: run as a script, this module is __main__, which RQ refuses to enqueue.
NOOP_PATH = "bench.peers.rq_peer.noop"


def noop(index: int, enqueued_at: float) -> None:
    record(index, enqueued_at)


def main() -> None:
    queue = Queue("default", connection=redis.Redis.from_url(redis_url()))

    def enqueue_batch(items: Sequence[Item]) -> None:
        queue.enqueue_many([Queue.prepare_data(NOOP_PATH, args=item) for item in items])

    producer_main(
        lambda index, enqueued_at: queue.enqueue(NOOP_PATH, index, enqueued_at),
        enqueue_batch,
        lambda: queue.count,
    )


if __name__ == "__main__":
    main()
