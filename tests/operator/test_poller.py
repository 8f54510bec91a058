"""The operator's one poller (`kasynq_operator.poller`): every pool and queue stepped from one
task at its own interval, in place of a kopf daemon per object (issue #18, memory at 1,000
pools)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
from kasynq_operator.poller import Poller, essentials

INTERVAL = 0.05


class Recorder:
    """A target that counts its steps and what it was told; fails or blocks on demand."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.seconds = interval
        self.steps: list[Any] = []
        self.forgotten = 0
        self.fail = False
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.release.set()

    def interval(self, body: Mapping[str, Any]) -> float:
        return self.seconds

    async def step(self, body: Mapping[str, Any]) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.steps.append(body["spec"].get("image"))
            await self.release.wait()
            if self.fail:
                raise RuntimeError("boom")
        finally:
            self.running -= 1

    def forget(self) -> None:
        self.forgotten += 1


def body(name: str, generation: int = 1, uid: str = "", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kasynq.io/v1alpha1",
        "kind": "AsynqWorkerPool",
        "metadata": {"name": name, "namespace": "ns", "uid": uid or f"uid-{name}",
                     "generation": generation, "managedFields": [{"big": "x" * 100}]},
        "spec": spec,
        "status": {"desiredReplicas": 3, "conditions": [{"type": "Ready"}]},
    }  # fmt: skip


@contextlib.asynccontextmanager
async def running(poller: Poller) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(poller.run())
    try:
        yield task
    finally:
        await poller.stop()
        await asyncio.wait_for(task, 5)


async def eventually(predicate: Callable[[], bool], what: str, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    assert predicate(), what


def key(name: str) -> tuple[str, str, str]:
    return ("AsynqWorkerPool", "ns", name)


def test_essentials_keep_identity_spec_and_the_named_status_fields_only() -> None:
    slim = essentials(body("a", image="x"), ("desiredReplicas",))
    assert slim == {
        "apiVersion": "kasynq.io/v1alpha1",
        "kind": "AsynqWorkerPool",
        "metadata": {"name": "a", "namespace": "ns", "uid": "uid-a", "generation": 1},
        "spec": {"image": "x"},
        "status": {"desiredReplicas": 3},
    }


async def test_one_task_steps_every_target_at_its_interval() -> None:
    poller = Poller()
    fast, slow = Recorder(), Recorder(interval=0.5)
    targets = {"fast": fast, "slow": slow, **{f"p{i}": Recorder() for i in range(50)}}
    tasks_before = len(asyncio.all_tasks())
    async with running(poller):
        for name, target in targets.items():
            poller.update(key(name), essentials(body(name)), lambda t=target: t)
        await asyncio.sleep(0.6)
        assert len(asyncio.all_tasks()) <= tasks_before + 1 + len(targets)
    assert 3 <= len(fast.steps) <= 13, fast.steps  # at most one a 0.05 s from 0 to 0.6 s
    assert 1 <= len(slow.steps) <= 2  # at 0 s and 0.5 s, unless the machine is very busy
    assert all(len(target.steps) >= 3 for target in targets.values() if target is not slow)
    assert len(poller) == len(targets)


async def test_a_dropped_target_is_forgotten_and_not_stepped_again() -> None:
    poller = Poller()
    kept, dropped = Recorder(), Recorder()
    async with running(poller):
        poller.update(key("kept"), essentials(body("kept")), lambda: kept)
        poller.update(key("gone"), essentials(body("gone")), lambda: dropped)
        await eventually(lambda: len(dropped.steps) >= 2, "the target stepped")
        poller.drop(key("gone"))
        steps = len(dropped.steps)
        await asyncio.sleep(4 * INTERVAL)
        assert len(dropped.steps) == steps
        assert dropped.forgotten == 1
        assert poller.target(key("gone")) is None
        assert len(kept.steps) >= 4 and kept.forgotten == 0


async def test_a_target_dropped_during_its_step_is_forgotten_after_it() -> None:
    """A step still running may publish metrics after the drop: forgotten once more after."""
    poller = Poller()
    target = Recorder()
    target.release.clear()
    async with running(poller):
        poller.update(key("a"), essentials(body("a")), lambda: target)
        await eventually(lambda: target.running == 1, "the step running")
        poller.drop(key("a"))
        target.release.set()
        await eventually(lambda: target.forgotten == 2, "forgotten again after the step")


async def test_a_failing_target_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    poller = Poller()
    failing, healthy = Recorder(), Recorder()
    failing.fail = True
    async with running(poller):
        poller.update(key("bad"), essentials(body("bad")), lambda: failing)
        poller.update(key("good"), essentials(body("good")), lambda: healthy)
        await asyncio.sleep(0.5)
    assert len(failing.steps) == 1, "retried only after RETRY_SECONDS"
    assert len(healthy.steps) >= 3
    assert "AsynqWorkerPool step failed namespace=ns name=bad" in caplog.text


async def test_a_new_generation_is_polled_at_once_and_a_new_uid_gets_a_new_target() -> None:
    poller = Poller()
    first, second = Recorder(interval=60), Recorder(interval=60)
    async with running(poller):
        poller.update(key("a"), essentials(body("a", image="v1")), lambda: first)
        await eventually(lambda: first.steps == ["v1"], "the first poll")
        poller.update(key("a"), essentials(body("a", image="v1")), lambda: first)  # status only
        await asyncio.sleep(0.1)
        assert first.steps == ["v1"], "no extra poll without a new generation"
        poller.update(key("a"), essentials(body("a", 2, image="v2")), lambda: first)
        await eventually(lambda: first.steps == ["v1", "v2"], "the new spec polled at once")
        poller.update(key("a"), essentials(body("a", 1, "uid-2", image="v3")), lambda: second)
        await eventually(lambda: second.steps == ["v3"], "the recreated object's new target")
        assert first.forgotten == 1


async def test_concurrency_is_bounded_and_stop_waits_for_running_steps() -> None:
    poller = Poller(concurrency=3)
    shared = Recorder()
    shared.release.clear()
    task = asyncio.create_task(poller.run())
    for index in range(10):
        poller.update(key(f"p{index}"), essentials(body(f"p{index}")), lambda: shared)
    await eventually(lambda: shared.running == 3, "three steps running")
    await asyncio.sleep(0.1)
    assert shared.most_at_once == 3
    stopping = asyncio.create_task(poller.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done(), "stop waits for the running steps"
    shared.release.set()
    await asyncio.wait_for(stopping, 5)
    await asyncio.wait_for(task, 5)
    assert len(shared.steps) == 3, "no step starts after stop"
