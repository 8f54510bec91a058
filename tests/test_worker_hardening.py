"""Worker hardening: misbehaving handlers, liveness without Redis, bounded metrics, signals."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis.asyncio
from kasynq.broker import Broker
from kasynq.config import ConfigError, resolve
from kasynq.context import TaskContext
from kasynq.httpserver import HTTPServer, Probes
from kasynq.retry import SkipRetry
from kasynq.servemux import ServeMux
from kasynq.server import Server
from kasynq.task import Task
from kasynq_operator.resources import configmap_manifest, deployment_manifest, resolve_pool

from devenv.processes import free_port
from devenv.redis_servers import RedisServer
from tests import hardening_app
from tests.operator.test_resources import QUEUES, pool_spec
from tests.server_helpers import FAST, enqueue, queue_sizes, task_state, wait_for
from tests.test_server_process import spawn_worker
from tests.test_server_process import worker_processes as worker_processes  # the fixture


@pytest.fixture
def client(async_redis: redis.asyncio.Redis) -> redis.asyncio.Redis:
    return async_redis


async def stop_worker(process: subprocess.Popen[bytes]) -> str:
    """SIGTERM the worker, wait for it, return its output (logs)."""
    process.send_signal(signal.SIGTERM)
    output, _ = await asyncio.to_thread(process.communicate, timeout=20)
    return output.decode()


def log_records(output: str) -> list[str]:
    """The worker's log split into records (a record starts with its timestamp)."""
    return [record for record in re.split(r"\n(?=\d{4}-\d\d-\d\d )", output) if record]


async def test_handlers_raising_base_exceptions_fail_their_task_and_the_worker_goes_on(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    broker = Broker(client)
    bad = {
        task_type: (await enqueue(broker, task_type=task_type, payload=payload, retry=0))[0]
        for task_type, payload in [
            ("exit", b""),
            ("argparse", b"--count x"),
            ("interrupt", b""),
            ("cancel-self", b""),
        ]
    }
    retried = (await enqueue(broker, task_type="exit", retry=3))[0]
    process = spawn_worker(
        worker_processes, redis_url, "--handlers", "tests.hardening_app:mux", "--concurrency", "2"
    )

    async def all_failed() -> bool:
        assert process.poll() is None, "the worker died"
        sizes = await queue_sizes(client)
        return sizes["archived"] == len(bad) and sizes["retry"] + sizes["pending"] == 1

    await wait_for(all_failed, within=20, what="every bad task failed")
    ok = (await enqueue(broker, task_type="ok"))[0]

    async def ok_done() -> bool:
        return await task_state(client, "default", ok.id) == {}

    await wait_for(ok_done, what="a later task done")

    async def texts() -> dict[str, str]:
        return {
            task_type: (await task_state(client, "default", msg.id))["msg"].error_msg
            for task_type, msg in bad.items()
        }

    errors = await texts()
    assert errors["exit"].startswith("panic [") and errors["exit"].endswith("]: SystemExit: 3")
    assert errors["argparse"].endswith(": SystemExit: 2")
    assert errors["interrupt"].endswith(": KeyboardInterrupt: stop here")
    assert errors["cancel-self"].endswith(": CancelledError: library gave up")
    assert "hardening_app.py:" in errors["exit"]
    state = await task_state(client, "default", retried.id)
    assert state["msg"].retried == 1
    output = await stop_worker(process)
    logged = log_records(output)
    for msg in [*bad.values(), retried]:
        [record] = [record for record in logged if f"id={msg.id}" in record]
        assert f"WARNING kasynq.processor task failed id={msg.id} type={msg.type}" in record
        assert "queue=default" in record
        assert "Traceback" in record  # archived, or a panic
    assert "retried=0/3 outcome=retry error=panic [" in output
    assert "retried=0/0 outcome=archived error=panic [" in output


def _get(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        url = f"http://{host}:{port}{path}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def test_a_redis_outage_fails_readiness_only_and_the_rendered_liveness_probe_is_healthz(
    redis_factory: type[RedisServer],
) -> None:
    spec = pool_spec()
    resolution = resolve_pool("team-a", spec, QUEUES)
    configmap = configmap_manifest("mail", "team-a", spec, resolution)
    deployment = deployment_manifest("mail", "team-a", spec, resolution, configmap)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert (liveness["httpGet"]["path"], readiness["httpGet"]["path"]) == ("/healthz", "/readyz")

    redis_process = redis_factory(persistent=True).start()
    client = redis.asyncio.Redis.from_url(redis_process.url)
    server = Server(client, http_host="127.0.0.1", http_port=0, **FAST)
    await server.start(lambda ctx, task: None)
    try:
        assert server.http is not None
        port = server.http.port
        probe = functools.partial(_get, "127.0.0.1", port, timeout=liveness["timeoutSeconds"])
        assert await asyncio.to_thread(probe, "/readyz") == (200, "ready\n")
        await asyncio.to_thread(redis_process.stop)
        # Many probe periods' worth of liveness probes, back to back: every one passes.
        for _ in range(liveness["failureThreshold"] * 3):
            assert await asyncio.to_thread(probe, "/healthz") == (200, "ok\n")
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(probe, "/readyz") == (503, "redis down\n")
        await asyncio.to_thread(redis_process.start)

        async def ready() -> bool:
            return await asyncio.to_thread(probe, "/readyz") == (200, "ready\n")

        await wait_for(ready, within=15, what="ready again once Redis is back")
    finally:
        await server.shutdown()
        await client.aclose()


async def test_metrics_render_off_the_event_loop() -> None:
    """/healthz answers while a scrape is still rendering (the renderer blocks here)."""
    rendering, release = threading.Event(), threading.Event()

    def slow_metrics() -> bytes:
        rendering.set()
        release.wait(10)
        return b"# rendered\n"

    async def reachable() -> bool:
        return True

    http = HTTPServer(Probes(reachable, lambda: True, slow_metrics), 0, "127.0.0.1")
    await http.start()
    try:
        scrape = asyncio.ensure_future(asyncio.to_thread(_get, "127.0.0.1", http.port, "/metrics"))
        assert await asyncio.to_thread(rendering.wait, 5)
        health = await asyncio.to_thread(_get, "127.0.0.1", http.port, "/healthz", 2.0)
        answered_during_scrape = not release.is_set()
        release.set()
        assert health == (200, "ok\n")
        assert answered_during_scrape
        assert await scrape == (200, "# rendered\n")
    finally:
        release.set()
        await http.stop()


async def test_task_type_label_is_capped(client: redis.asyncio.Redis) -> None:
    seen: list[str] = []

    async def handler(ctx: TaskContext, task: Task) -> None:
        seen.append(task.type)

    server = Server(client, http_host="127.0.0.1", http_port=0, metrics_max_task_types=3, **FAST)
    await server.start(handler)
    try:
        assert server.http is not None
        for index in range(6):
            await enqueue(Broker(client), task_type=f"report:{index}")
            # One at a time, so that the first three types are the labelled ones.
            await wait_for(functools.partial(lambda count: len(seen) == count, index + 1))
        status, metrics = await asyncio.to_thread(_get, "127.0.0.1", server.http.port, "/metrics")
    finally:
        await server.shutdown()
    assert status == 200
    processed = [
        line for line in metrics.splitlines() if line.startswith("kasynq_tasks_processed_total{")
    ]
    assert sorted(processed) == [
        'kasynq_tasks_processed_total{queue="default",task_type="other"} 3.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:0"} 1.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:1"} 1.0',
        'kasynq_tasks_processed_total{queue="default",task_type="report:2"} 1.0',
    ]
    assert 'kasynq_handler_duration_seconds_count{task_type="other"} 3.0' in metrics
    with pytest.raises(ValueError, match="metrics_max_task_types must be >= 1, got 0"):
        Server(client, metrics_max_task_types=0)


async def test_every_failure_is_logged_once_at_the_configured_level(
    client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    mux = ServeMux()

    @mux.handler("fails")
    async def fails(ctx: TaskContext, task: Task) -> None:
        raise RuntimeError(f"boom {task.payload.decode()}")

    @mux.handler("skips")
    async def skips(ctx: TaskContext, task: Task) -> None:
        raise SkipRetry("bad payload")

    broker = Broker(client)
    retried = await enqueue(broker, 3, task_type="fails", payload=b"r", retry=5)
    [exhausted] = await enqueue(broker, task_type="fails", payload=b"x", retry=2, retried=2)
    [skipped] = await enqueue(broker, task_type="skips")
    [missing] = await enqueue(broker, task_type="nobody:home", retry=0)
    retry_delay = {"retry_delay_func": lambda retried, error, task: 60}
    server = Server(client, failure_log_level="error", **{**FAST, **retry_delay})
    caplog.set_level(logging.INFO, logger="kasynq.processor")
    await server.start(mux)
    try:

        async def all_failed() -> bool:
            sizes = await queue_sizes(client)
            return (sizes["retry"], sizes["archived"]) == (3, 3)

        await wait_for(all_failed, what="every task failed")
    finally:
        await server.shutdown()
    failures = [record for record in caplog.records if record.getMessage().startswith("task")]
    assert {record.levelname for record in failures} == {"ERROR"}
    by_id = {
        msg.id: [r for r in failures if f"id={msg.id} " in r.getMessage()]
        for msg in [*retried, exhausted, skipped, missing]
    }
    assert all(len(records) == 1 for records in by_id.values()), by_id
    [line] = by_id[retried[0].id]
    assert line.getMessage() == (
        f"task failed id={retried[0].id} type=fails queue=default retried=0/5 outcome=retry "
        "error=boom r"
    )
    assert line.exc_info is None
    [line] = by_id[exhausted.id]
    assert "retried=2/2 outcome=archived error=boom x" in line.getMessage()
    assert line.exc_info is not None and isinstance(line.exc_info[1], RuntimeError)
    [line] = by_id[skipped.id]
    assert "outcome=archived error=bad payload: skip retry for the task" in line.getMessage()
    [line] = by_id[missing.id]
    assert "type=nobody:home" in line.getMessage()
    assert 'error=handler not found for task "nobody:home"' in line.getMessage()
    with pytest.raises(ValueError, match=r"failure_log_level must be a logging level.*'LOUD'"):
        Server(client, failure_log_level="LOUD")


async def test_an_async_handler_blocking_the_loop_is_named_once(
    client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    mux = ServeMux()
    mux.handle("block-loop", hardening_app.blocks_the_loop)
    messages = await enqueue(Broker(client), 2, task_type="block-loop")
    server = Server(client, concurrency=1, **FAST)
    caplog.set_level(logging.WARNING, logger="kasynq")
    await server.start(mux)
    try:

        async def both_done() -> bool:
            states = [await task_state(client, "default", msg.id) for msg in messages]
            return states == [{}, {}]

        await wait_for(both_done, within=15, what="both tasks done")
    finally:
        await server.shutdown()
    warnings = [
        r.getMessage() for r in caplog.records if "blocked the event loop" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    assert re.fullmatch(
        r"handler blocked the event loop for over 1s; use await or a sync handler "
        r"handler=tests\.hardening_app\.blocks_the_loop type=block-loop",
        warnings[0],
    )


async def test_a_sync_handler_outliving_its_task_is_named_once(
    client: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    mux = ServeMux()
    mux.handle("ignore-deadline", hardening_app.ignores_its_deadline)
    messages = await enqueue(Broker(client), 2, task_type="ignore-deadline", timeout=1, retry=0)
    server = Server(client, concurrency=2, **FAST)
    caplog.set_level(logging.WARNING, logger="kasynq")
    await server.start(mux)
    try:

        async def warned() -> bool:
            return any("holding a worker thread" in r.getMessage() for r in caplog.records)

        await wait_for(warned, within=10, what="the stuck thread warning")
        await asyncio.sleep(0.5)
    finally:
        await server.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "worker thread" in r.getMessage()]
    assert warnings == [
        "sync handler still running 1s after its task ended (deadline, cancellation or "
        "shutdown) and holding a worker thread; poll ctx.done() "
        "handler=tests.hardening_app.ignores_its_deadline type=ignore-deadline"
    ]
    for msg in messages:
        state = await task_state(client, "default", msg.id)
        assert state["msg"].error_msg == "context deadline exceeded"


def test_worker_settings_take_http_host_levels_and_the_metrics_cap(tmp_path: Path) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text(
        "handlers: app:mux\nhttp_host: 127.0.0.1\nlog_level: debug\n"
        "failure_log_level: ERROR\nmetrics_max_task_types: 50\n"
    )
    settings = resolve(config, {"http_host": None})
    assert (settings.http_host, settings.log_level, settings.failure_log_level) == (
        "127.0.0.1",
        logging.DEBUG,
        logging.ERROR,
    )
    assert settings.metrics_max_task_types == 50
    assert resolve(config, {"http_host": "::1"}).http_host == "::1"
    bad = {
        "log_level": ("LOUD", "log_level must be a logging level, one of "),
        "failure_log_level": ("nope", "failure_log_level='nope'"),
        "metrics_max_task_types": (0, "metrics_max_task_types must be >= 1"),
        "http_host": ("", "http_host has a bad value: http_host=''"),
    }
    for name, (value, message) in bad.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            resolve(config, {name: value})


async def worker_with_endpoint(
    processes: list[subprocess.Popen[bytes]], redis_url: str, host: str, ready_path: str
) -> tuple[subprocess.Popen[bytes], int]:
    """A `kasynq worker` with `--http-host host`, once `ready_path` answers 200 there."""
    port = free_port()
    process = spawn_worker(
        processes,
        redis_url,
        *("--handlers", "tests.hardening_app:mux"),
        *("--http-host", host, "--http-port", str(port)),
    )

    async def answers() -> bool:
        assert process.poll() is None, "the worker ended"
        try:
            return (await asyncio.to_thread(_get, host, port, ready_path))[0] == 200
        except OSError:
            return False

    await wait_for(answers, within=20, what=f"{ready_path} on {host}:{port}")
    return process, port


async def test_http_host_binds_the_endpoint_to_that_address(
    redis_url: str, worker_processes: list[subprocess.Popen[bytes]]
) -> None:
    process, port = await worker_with_endpoint(worker_processes, redis_url, "127.0.0.2", "/healthz")
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(_get, "127.0.0.1", port, "/healthz")
    await stop_worker(process)


async def test_sighup_reloads_levels_and_keeps_running_work(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    config = tmp_path / "worker.yaml"
    config.write_text("handlers: tests.hardening_app:mux\nconcurrency: 2\n")
    broker = Broker(client)
    [held] = await enqueue(broker, task_type="hold", payload=b"2")
    process = spawn_worker(worker_processes, redis_url, "--config", str(config))

    async def active() -> bool:
        assert process.poll() is None, "the worker ended"
        return (await queue_sizes(client))["active"] == 1

    await wait_for(active, within=20, what="the held task active")
    config.write_text(
        "handlers: tests.hardening_app:mux\nconcurrency: 3\n"
        "log_level: WARNING\nfailure_log_level: ERROR\n"
    )
    process.send_signal(signal.SIGHUP)
    [failed] = await enqueue(broker, task_type="fail", retry=0)

    async def settled() -> bool:
        assert process.poll() is None, "the worker ended"
        held_state = await task_state(client, "default", held.id)
        return held_state == {} and (await queue_sizes(client))["archived"] == 1

    await wait_for(settled, within=20, what="the held task done and the failure archived")
    config.write_text("handlers: tests.hardening_app:mux\nfailure_log_level: LOUD\n")
    process.send_signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    assert process.poll() is None
    output = await stop_worker(process)
    assert process.returncode == 0
    records = log_records(output)
    [failure] = [record for record in records if f"id={failed.id}" in record]
    assert " ERROR kasynq.processor task failed " in failure
    reloaded = [r for r in records if "config reloaded" in r]
    assert len(reloaded) == 1 and "log_level=WARNING failure_log_level=ERROR" in reloaded[0]
    assert any("config changes need a restart settings=concurrency" in r for r in records)
    assert any("config not reloaded" in r and "failure_log_level='LOUD'" in r for r in records)
    after = records[records.index(reloaded[0]) + 1 :]
    assert not [r for r in after if " INFO " in r], after  # log_level WARNING applied


async def test_sigtstp_stops_fetching_and_the_worker_keeps_running(
    client: redis.asyncio.Redis,
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    process, port = await worker_with_endpoint(worker_processes, redis_url, "127.0.0.1", "/readyz")
    process.send_signal(signal.SIGTSTP)

    async def not_ready() -> bool:
        return (await asyncio.to_thread(_get, "127.0.0.1", port, "/readyz"))[0] == 503

    await wait_for(not_ready, what="readiness gone after SIGTSTP")
    await enqueue(Broker(client), task_type="ok")
    await asyncio.sleep(1.5)
    assert (await queue_sizes(client))["pending"] == 1
    assert process.poll() is None
    assert await asyncio.to_thread(_get, "127.0.0.1", port, "/healthz") == (200, "ok\n")
    await stop_worker(process)
    assert process.returncode == 0


async def test_sighup_applies_schedules_in_a_worker_running_a_scheduler(
    redis_url: str,
    worker_processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KASYNQ_SCHEDULER_GROUP", "hardening/sighup")
    config = tmp_path / "worker.yaml"
    entry = '  - {{name: "{0}", cron: "@every {1}h", type: "ok"}}\n'
    config.write_text("handlers: tests.hardening_app:mux\nschedules:\n" + entry.format("one", 1))
    process = spawn_worker(worker_processes, redis_url, "--config", str(config))
    await asyncio.sleep(1.0)
    assert process.poll() is None, "the worker ended"
    config.write_text(
        "handlers: tests.hardening_app:mux\nschedules:\n"
        + entry.format("one", 1)
        + entry.format("two", 2)
    )
    process.send_signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    assert process.poll() is None, "SIGHUP ended the worker"
    output = await stop_worker(process)
    assert process.returncode == 0
    assert "config reloaded path=" in output and "schedules=2" in output
    assert "schedule registered" in output.split("config reloaded")[1]
