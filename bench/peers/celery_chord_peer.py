"""Celery's chord for the fan-out/fan-in workload: Redis broker *and* result backend (a chord
needs its members' results). Worker: `celery -A bench.peers.celery_chord_peer worker ...`;
producer: `python -m bench.peers.celery_chord_peer fan-out --count N`."""

from __future__ import annotations

from typing import Any

from celery import Celery, chord

from bench.peers.common import fan_out_main, record, record_callback, redis_url

app = Celery("bench", broker=redis_url(), backend=redis_url())
app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)


@app.task(name="bench.member")
def member(index: int, enqueued_at: float) -> int:
    record(index, enqueued_at)
    return index


@app.task(name="bench.callback")
def callback(results: list[Any]) -> None:
    record_callback(len(results))


async def produce(count: int, started: float) -> None:
    chord(member.s(index, started) for index in range(count))(callback.s())


if __name__ == "__main__":
    fan_out_main(produce)
