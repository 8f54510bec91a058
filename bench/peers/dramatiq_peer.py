"""Dramatiq with its Redis broker. Worker: `dramatiq bench.peers.dramatiq_peer`."""

from __future__ import annotations

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from bench.peers.common import producer_main, record, redis_url

dramatiq.set_broker(RedisBroker(url=redis_url()))
conn = redis.Redis.from_url(redis_url())


@dramatiq.actor(max_retries=0)
def noop(index: int, enqueued_at: float) -> None:
    record(index, enqueued_at)


def main() -> None:
    producer_main(
        lambda index, enqueued_at: noop.send(index, enqueued_at),
        None,
        lambda: int(conn.hlen("dramatiq:default.msgs")),
    )


if __name__ == "__main__":
    main()
