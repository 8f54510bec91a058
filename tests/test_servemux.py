"""ServeMux routing (asynq's longest-prefix rule), middleware order, sync/async dispatch."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from kasynq.context import TaskContext
from kasynq.servemux import AsyncHandler, HandlerNotFound, ServeMux
from kasynq.task import Task


def context() -> TaskContext:
    return TaskContext(task_id="id", queue="default", retry_count=0, max_retry=25, deadline=2e9)


def recorder(calls: list[str], name: str) -> Callable[[TaskContext, Task], None]:
    def handler(ctx: TaskContext, task: Task) -> None:
        calls.append(name)

    return handler


@pytest.mark.parametrize(
    ("task_type", "expected"),
    [
        ("email:welcome", "exact"),
        ("email:welcome:v2", "email:welcome-prefix"),
        ("email:reminder", "email"),
        ("emailing", "email-bare"),
        ("image:resize", "image"),
    ],
)
async def test_exact_match_wins_then_longest_prefix(task_type: str, expected: str) -> None:
    calls: list[str] = []
    mux = ServeMux()
    mux.handle("email", recorder(calls, "email-bare"))
    mux.handle("email:", recorder(calls, "email"))
    mux.handle("email:welcome", recorder(calls, "exact"))
    mux.handle("email:welcome:", recorder(calls, "email:welcome-prefix"))
    mux.handle("image", recorder(calls, "image"))
    await mux(context(), Task(task_type))
    expected_name = "exact" if task_type == "email:welcome" else expected
    assert calls == [expected_name]


async def test_no_match_raises_go_not_found_text() -> None:
    mux = ServeMux()
    mux.handle("a", recorder([], "a"))
    with pytest.raises(HandlerNotFound, match='handler not found for task "b:x"'):
        await mux(context(), Task("b:x"))


def test_blank_and_duplicate_patterns_are_rejected() -> None:
    mux = ServeMux()
    mux.handle("a", recorder([], "a"))
    with pytest.raises(ValueError, match="multiple registrations"):
        mux.handle("a", recorder([], "a"))
    with pytest.raises(ValueError, match="blank"):
        mux.handle("  ", recorder([], "a"))


async def test_decorator_and_sync_handlers_run_in_a_thread() -> None:
    threads: list[str] = []
    mux = ServeMux()

    @mux.handler("sync")
    def sync_handler(ctx: TaskContext, task: Task) -> None:
        threads.append(threading.current_thread().name)

    await mux(context(), Task("sync"))
    assert threads and threads[0] != threading.main_thread().name


async def test_middlewares_wrap_in_registration_order_and_see_not_found() -> None:
    calls: list[str] = []

    def middleware(name: str) -> Callable[[AsyncHandler], AsyncHandler]:
        def wrap(inner: AsyncHandler) -> AsyncHandler:
            async def wrapped(ctx: TaskContext, task: Task) -> None:
                calls.append(f"{name}>")
                try:
                    await inner(ctx, task)
                finally:
                    calls.append(f"<{name}")

            return wrapped

        return wrap

    mux = ServeMux()
    mux.use(middleware("outer"), middleware("inner"))

    @mux.handler("t")
    async def handler(ctx: TaskContext, task: Task) -> None:
        calls.append("handler")

    await mux(context(), Task("t"))
    assert calls == ["outer>", "inner>", "handler", "<inner", "<outer"]
    calls.clear()
    with pytest.raises(HandlerNotFound):
        await mux(context(), Task("missing"))
    assert calls == ["outer>", "inner>", "<inner", "<outer"]
