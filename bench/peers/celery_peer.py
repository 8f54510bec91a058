"""Celery: Redis broker, results off. Worker: `celery -A bench.peers.celery_peer worker ...`."""

from __future__ import annotations

import redis
from celery import Celery

from bench.peers.common import producer_main, record, redis_url

QUEUE = "celery"

app = Celery("bench", broker=redis_url())
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
conn = redis.Redis.from_url(redis_url())


@app.task(name="bench.noop")
def noop(index: int, enqueued_at: float) -> None:
    record(index, enqueued_at)


def main() -> None:
    producer_main(
        lambda index, enqueued_at: noop.delay(index, enqueued_at),
        None,
        lambda: int(conn.llen(QUEUE)),
    )


if __name__ == "__main__":
    main()
