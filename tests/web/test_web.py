"""The console over HTTP (no browser): auth, CSRF, read-only, probes, parameters, Go's state.

The app runs in this test's event loop on a loopback port (aiohttp's TestServer).
"""

from __future__ import annotations

import asyncio
import base64
import html
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from aiohttp.test_utils import TestClient, TestServer
from kasynq.cli.web import web
from kasynq.client import AsyncClient
from kasynq.context import TaskContext
from kasynq.inspector import AsyncInspector, SchedulerEntry, ServerInfo, WorkerInfo
from kasynq.server import Server
from kasynq.task import Task, TaskState
from kasynq.web import pages
from kasynq.web.app import WebSettings, create_app
from kasynq.web.auth import (
    Auth,
    AuthSettingError,
    read_basic_auth_file,
    read_token_file,
)

from devenv.goasynq import GoAsynq, task_spec
from devenv.processes import free_port, wait_until
from devenv.redis_servers import RedisCluster
from devenv.roundtrips import counting_client

KASYNQ_WEB = [sys.executable, "-c", "from kasynq.cli import main; main()", "web"]
MakeClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def console(redis_url: str) -> AsyncIterator[MakeClient]:
    """Start a console on the test's Redis with the given Auth and WebSettings."""
    started: list[TestClient] = []

    async def make(auth: Auth | None = None, settings: WebSettings | None = None) -> TestClient:
        inspector = AsyncInspector.from_url(redis_url)
        app = create_app(inspector, auth or Auth.build(), settings or WebSettings())
        app.on_cleanup.append(lambda _: inspector.close())
        client = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        return client

    yield make
    for client in started:
        await client.close()


@pytest.fixture
async def tasks(redis_url: str) -> AsyncIterator[dict[str, str]]:
    """An archived task in `low`, two pending in `default` (IDs by name)."""
    async with AsyncClient.from_url(redis_url) as client:
        archived = (await client.enqueue(Task("resize", b"{}"), queue="low")).id
        first = (await client.enqueue(Task("send", b"1"))).id
        second = (await client.enqueue(Task("send", b"2"))).id
    async with AsyncInspector.from_url(redis_url) as inspector:
        await inspector.archive_task("low", archived)
        yield {"archived": archived, "first": first, "second": second}


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


async def state_of(redis_url: str, queue: str, task_id: str) -> TaskState:
    async with AsyncInspector.from_url(redis_url) as inspector:
        return (await inspector.get_task_info(queue, task_id)).state


async def test_a_change_needs_the_csrf_token_of_its_page(
    console: MakeClient, tasks: dict[str, str], redis_url: str
) -> None:
    client = await console()
    form = {"op": "run_task", "queue": "low", "id": tasks["archived"], "next": "/"}
    for csrf in ("", "0" * 64):
        reply = await client.post("/action", data={**form, "csrf": csrf}, allow_redirects=False)
        assert reply.status == 403
        assert "CSRF token is missing or wrong" in await reply.text()
    page = await (
        await client.get("/task", params={"queue": "low", "id": tasks["archived"]})
    ).text()
    cross_site = await client.post(
        "/action",
        data={**form, "csrf": csrf_of(page)},
        headers={"Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
    )
    assert cross_site.status == 403
    assert await state_of(redis_url, "low", tasks["archived"]) is TaskState.ARCHIVED
    done = await client.post("/action", data={**form, "csrf": csrf_of(page)}, allow_redirects=False)
    assert done.status == 303
    assert done.headers["Location"].startswith("/?notice=task+")
    assert await state_of(redis_url, "low", tasks["archived"]) is TaskState.PENDING


async def test_after_a_change_it_only_goes_back_to_a_page_of_its_own(
    console: MakeClient, tasks: dict[str, str]
) -> None:
    client = await console()
    csrf = csrf_of(await (await client.get("/queue", params={"name": "default"})).text())
    for target in ("//elsewhere.example/x", "https://elsewhere.example/", "/\\elsewhere"):
        form = {"csrf": csrf, "op": "pause", "queue": "default", "next": target}
        reply = await client.post("/action", data=form, allow_redirects=False)
        assert reply.headers["Location"].startswith("/?notice="), target


async def test_bulk_changes_and_queue_changes(
    console: MakeClient, tasks: dict[str, str], redis_url: str
) -> None:
    client = await console()
    csrf = csrf_of(await (await client.get("/queue", params={"name": "default"})).text())

    async def post(**fields: str) -> str:
        reply = await client.post("/action", data={"csrf": csrf, "next": "/", **fields})
        assert reply.status == 200
        return await reply.text()

    assert "archive: 2 pending tasks of queue default" in await post(
        op="archive_all", queue="default", state="pending"
    )
    assert "run: 1 archived tasks of queue low" in await post(
        op="run_all", queue="low", state="archived"
    )
    assert "delete_queue refused" in await post(op="delete_queue", queue="low")
    assert "queue default: pause done" in await post(op="pause", queue="default")
    async with AsyncInspector.from_url(redis_url) as inspector:
        info = await inspector.get_queue_info("default")
        assert (info.pending, info.archived, info.paused) == (0, 2, True)
        assert (await inspector.get_queue_info("low")).pending == 1
    assert "queue default: resume done" in await post(op="resume", queue="default")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"op": "explode", "queue": "q"}, "field op is not a known action: op=&#x27;explode&#x27;"),
        ({"op": "run_all", "queue": "q", "state": "pending"}, "field state must be one of"),
        ({"op": "delete_all", "queue": "q", "state": "aggregating"}, "field group is required"),
        ({"op": "run_task", "queue": "q"}, "field id is required"),
        ({"op": "pause"}, "field queue is required"),
    ],
)
async def test_a_malformed_change_is_a_bad_request_naming_the_field(
    console: MakeClient, fields: dict[str, str], message: str
) -> None:
    auth = Auth.build()
    client = await console(auth)
    reply = await client.post("/action", data={"csrf": auth.csrf_token("anonymous"), **fields})
    assert reply.status == 400
    assert message in await reply.text()


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/queue", 400, "parameter name is required"),
        ("/queue?name=default&state=lost", 400, "state=&#x27;lost&#x27;"),
        ("/queue?name=default&page=0", 400, "page=&#x27;0&#x27;"),
        ("/queue?name=nowhere", 404, "nowhere"),
        ("/task?queue=default&id=missing", 404, "missing"),
    ],
)
async def test_bad_parameters_name_the_parameter(
    console: MakeClient, tasks: dict[str, str], path: str, status: int, message: str
) -> None:
    reply = await (await console()).get(path)
    assert reply.status == status
    assert message in await reply.text()


async def test_queue_page_pages_searches_and_lists_groups(
    console: MakeClient, redis_url: str
) -> None:
    async with AsyncClient.from_url(redis_url) as producer:
        for n in range(25):
            await producer.enqueue(Task("mail" if n % 2 else "sms", str(n).encode()))
        grouped = await producer.enqueue(Task("batch", b"g"), group="nightly")
    client = await console()
    first = await (await client.get("/queue", params={"name": "default"})).text()
    assert first.count("/task?queue=default&amp;id=") == 20
    assert "page 1 of 2 (25 pending)" in first
    next_link = re.search(r'<a href="([^"]+)">next →</a>', first)
    assert next_link, "page 1 links to page 2"
    second = await (await client.get(html.unescape(next_link.group(1)))).text()
    assert second.count("/task?queue=default&amp;id=") == 5
    assert "page 2 of 2 (25 pending)" in second and "← previous" in second
    sms = await (await client.get("/queue", params={"name": "default", "type": "sms"})).text()
    assert sms.count("<td>sms</td>") == 10 and "<td>mail</td>" not in sms
    by_id = await client.get(
        "/queue", params={"name": "default", "id": grouped.id}, allow_redirects=False
    )
    assert by_id.headers["Location"] == f"/task?queue=default&id={grouped.id}"
    assert '<a href="/queue?name=default&amp;state=aggregating&amp;group=nightly">' in first
    group = await client.get(
        "/queue", params={"name": "default", "state": "aggregating", "group": "nightly"}
    )
    group_page = await group.text()
    assert grouped.id in group_page and 'value="run_all"' in group_page
    form = {"op": "run_all", "queue": "default", "state": "aggregating", "group": "nightly"}
    ran = await client.post("/action", data={**form, "csrf": csrf_of(group_page)})
    assert "run: 1 aggregating tasks of queue default" in await ran.text()


async def test_task_page_shows_payload_as_text_json_and_hex_with_headers(
    console: MakeClient, redis_url: str
) -> None:
    async with AsyncClient.from_url(redis_url) as producer:
        info = await producer.enqueue(Task("t", b'{"a": [1, "<i>"]}', headers={"trace": "<x>"}))
        binary = await producer.enqueue(Task("t", b"\xff\x00"))
    client = await console()
    page = await (await client.get("/task", params={"queue": "default", "id": info.id})).text()
    assert '<pre id="payload-text">{&quot;a&quot;: [1, &quot;&lt;i&gt;&quot;]}</pre>' in page
    assert '<pre id="payload-json">{\n  &quot;a&quot;: [\n    1,' in page
    assert "7b 22 61 22" in page
    assert "<td>trace</td><td>&lt;x&gt;</td>" in page
    raw = await (await client.get("/task", params={"queue": "default", "id": binary.id})).text()
    assert "(not UTF-8)" in raw and '<pre id="payload-hex">ff 00</pre>' in raw


async def test_a_waiting_task_shows_what_it_waits_for(console: MakeClient, redis_url: str) -> None:
    async with AsyncClient.from_url(redis_url) as producer:
        first = await producer.enqueue(Task("first"), queue="q1")
        second = await producer.enqueue(Task("second"), queue="q2")
        waiting = await producer.enqueue(Task("last"), queue="q2", depends_on=[first, second.id])
        later = await producer.enqueue(Task("later"), queue="q2", process_in=3600)
    client = await console()
    page = await (await client.get("/task", params={"queue": "q2", "id": waiting.id})).text()
    assert "<dd>waiting for dependencies (scheduled)</dd>" in page and "2200-" not in page
    assert "<h2>Waits for</h2>" in page
    rows = re.findall(r"<tr><td>(q\d)</td><td><a href=\"([^\"]+)\">([^<]+)</a></td><td>(\w+)", page)
    assert rows == [
        ("q1", f"/task?queue=q1&amp;id={first.id}", first.id, "waiting"),
        ("q2", f"/task?queue=q2&amp;id={second.id}", second.id, "waiting"),
    ]
    depended = await (await client.get("/task", params={"queue": "q1", "id": first.id})).text()
    assert "<h2>Waited for by 1</h2>" in depended and "Waits for" not in depended
    assert f'<td>q2</td><td><a href="/task?queue=q2&amp;id={waiting.id}">' in depended
    plain = await (await client.get("/task", params={"queue": "q2", "id": later.id})).text()
    assert "Waits for" not in plain and "<dd>scheduled</dd>" in plain
    listing = await client.get("/queue", params={"name": "q2", "state": "scheduled"})
    scheduled = await listing.text()
    assert scheduled.count('<span class="waiting">waiting for dependencies</span>') == 1
    assert "2200-" not in scheduled


async def test_the_overview_groups_a_queues_lanes_under_it(
    console: MakeClient, redis_url: str
) -> None:
    async with AsyncClient.from_url(redis_url) as producer:
        for queue in ("zeta", "mail.low", "mail", "audit", "mail.high"):
            await producer.enqueue(Task("t", b""), queue=queue)
    client = await console()
    page = await (await client.get("/")).text()
    rows = re.findall(r'<tr data-queue="([^"]+)"(?: data-lane="(\w+)")?>', page)
    assert rows == [
        ("audit", ""),
        ("mail.high", "high"),
        ("mail", "default"),
        ("mail.low", "low"),
        ("zeta", ""),
    ]
    assert '<span class="lane">high lane</span>' in page and "zeta</a></td>" in page


async def test_the_overview_is_one_round_trip_while_the_queues_stay(redis_url: str) -> None:
    async with AsyncClient.from_url(redis_url) as producer:
        for queue in ("a", "b", "c"):
            await producer.enqueue(Task("t", b""), queue=queue)
    client, count = counting_client(redis_url)
    async with AsyncInspector.owning(client) as inspector:
        first = await inspector.overview()  # connects; every queue is new: two round trips
        names = [info.queue for info in first.queues]
        assert (names, first.servers) == (["a", "b", "c"], 0)
        count.writes = 0
        again = await inspector.overview(names)
        assert count.writes == 1
        assert [(info.queue, info.pending) for info in again.queues] == [
            ("a", 1),
            ("b", 1),
            ("c", 1),
        ]
        async with AsyncClient.from_url(redis_url) as producer:
            await producer.enqueue(Task("t", b""), queue="d")
        count.writes = 0
        grown = await inspector.overview(names)
        assert count.writes == 2 and [info.queue for info in grown.queues] == ["a", "b", "c", "d"]


async def test_overview_on_redis_cluster(redis_cluster: RedisCluster) -> None:
    """The overview's one pipeline spans the nodes: the queue list, servers and stats."""
    nodes = redis_cluster.startup_nodes
    async with AsyncClient.from_cluster(nodes) as producer:
        for queue in ("a", "b", "c"):
            await producer.enqueue(Task("t", b""), queue=queue)
    inspector = AsyncInspector.from_cluster(nodes)
    app = create_app(inspector, Auth.build(), WebSettings())
    async with TestClient(TestServer(app)) as client:
        for _ in range(2):  # the second refresh reuses the queue list: one round trip
            page = await (await client.get("/")).text()
            for queue in ("a", "b", "c"):
                assert f'<tr data-queue="{queue}">' in page
            assert '<td data-field="pending">1</td>' in page
    await inspector.close()


async def test_live_updates_carry_the_counts(console: MakeClient, tasks: dict[str, str]) -> None:
    client = await console(settings=WebSettings(refresh_seconds=0.2))
    reply = await client.get("/events")
    assert reply.headers["Content-Type"] == "text/event-stream"
    assert await reply.content.readline() == b"event: overview\n"
    data = (await reply.content.readline()).decode()
    assert '"default": {"state": "run", "size": 2, "pending": 2,' in data
    reply.close()


async def test_responses_forbid_inline_scripts_and_framing(console: MakeClient) -> None:
    reply = await (await console()).get("/")
    assert "script-src 'self'" in reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


async def test_probes_answer_without_auth(console: MakeClient) -> None:
    client = await console(Auth.build(token="t"))
    assert (await client.get("/healthz")).status == 200
    assert (await client.get("/readyz")).status == 200
    assert (await client.get("/")).status == 401
    static = await client.get("/static/console.js")
    assert static.status == 200 and "textContent" in await static.text()


async def test_readyz_fails_while_redis_is_unreachable() -> None:
    inspector = AsyncInspector.from_url(f"redis://:hidden@127.0.0.1:{free_port()}/0")
    app = create_app(inspector, Auth.build(), WebSettings())
    async with TestClient(TestServer(app)) as client:
        reply = await client.get("/readyz")
        assert reply.status == 503
        text = await reply.text()
        assert "ConnectionError" in text and "hidden" not in text
        page = await client.get("/")
        assert page.status == 503 and "hidden" not in await page.text()
        stream = await client.get("/events")  # the live stream stays up and says why
        assert await stream.content.readline() == b"event: trouble\n"
        trouble = await stream.content.readline()
        assert b"ConnectionError" in trouble and b"hidden" not in trouble
        stream.close()
    await inspector.close()


async def test_bearer_token_and_cookie_sign_in(console: MakeClient) -> None:
    client = await console(Auth.build(token="tok"))
    assert (await client.get("/", headers={"Authorization": "Bearer tok"})).status == 200
    assert (await client.get("/", headers={"Authorization": "Bearer nope"})).status == 401
    wrong = await client.post("/login", data={"token": "nope"}, allow_redirects=False)
    assert wrong.status == 401
    login = await client.post("/login", data={"token": "tok"}, allow_redirects=False)
    assert login.status == 303
    cookie = login.cookies["kasynq_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and "tok" not in cookie.value
    assert (await client.get("/")).status == 200  # the client keeps the cookie


async def test_basic_auth_and_its_csrf_token_per_user(console: MakeClient) -> None:
    client = await console(Auth.build(basic_users={"ana": "pw1", "bo": "pw2"}))
    refused = await client.get("/")
    assert refused.status == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")

    def basic(user: str, password: str) -> dict[str, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    assert (await client.get("/", headers=basic("ana", "pw2"))).status == 401
    ana = await client.get("/queue", params={"name": "x"}, headers=basic("ana", "pw1"))
    assert ana.status == 404  # signed in; the queue does not exist
    form = {"op": "pause", "queue": "default", "csrf": Auth.build().csrf_token("ana")}
    reply = await client.post("/action", data=form, headers=basic("bo", "pw2"))
    assert reply.status == 403


async def test_trusted_header_names_the_user(console: MakeClient) -> None:
    client = await console(Auth.build(trusted_header="X-Forwarded-User"))
    assert (await client.get("/")).status == 401
    reply = await client.get("/", headers={"X-Forwarded-User": "<ana>"})
    assert reply.status == 200
    assert '<span class="user">&lt;ana&gt;</span>' in await reply.text()


def test_auth_files_are_checked_with_errors_naming_the_option(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  abc\n")
    assert read_token_file(token) == "abc"
    token.write_text("\n")
    with pytest.raises(AuthSettingError, match=r"--auth-token-file .*token: the file holds no"):
        read_token_file(token)
    users = tmp_path / "users"
    users.write_text("# admins\nana:pw:with:colons\n\nbo\n")
    with pytest.raises(AuthSettingError, match=r"--basic-auth-file .*: line 4 is not"):
        read_basic_auth_file(users)
    users.write_text("ana:pw:with:colons\n")
    assert read_basic_auth_file(users) == {"ana": "pw:with:colons"}


def test_servers_and_scheduler_pages_escape_what_they_show() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    worker = WorkerInfo("id1", "<t>", b"<p>", "q<", now, None)
    server = ServerInfo("s", "host<", 7, 10, {"q<": 1}, False, now, "active", [worker])
    entry = SchedulerEntry("e1", "@every 1m", "<cron>", b"<b>", ("Queue(<x>)",), now, None)
    view = pages.View(csrf="c", read_only=False, kube=False, principal="p")
    servers = pages.servers_page(view, [server])
    assert "host&lt; pid 7" in servers and "1 of 10 busy" in servers
    assert "<td>&lt;t&gt;</td><td>q&lt;</td><td><code>&lt;p&gt;</code></td>" in servers
    scheduler = pages.scheduler_page(view, [entry])
    assert "<td>&lt;cron&gt;</td><td><code>&lt;b&gt;</code></td><td>Queue(&lt;x&gt;)</td>" in (
        scheduler
    )


@pytest.mark.requires_go
async def test_go_asynq_state_shows_and_changes(
    console: MakeClient, go: GoAsynq, redis_url: str
) -> None:
    """Tasks written by Go's asynq (headers, retention, archive) read and change alike."""
    written = go.enqueue("go:task", b'{"from": "go"}', headers={"h": "v"}, queue="goq")
    go.inspect("archive-task", "goq", written["id"])
    client = await console()
    overview = await (await client.get("/")).text()
    assert '<tr data-queue="goq">' in overview and '<td data-field="archived">1</td>' in overview
    page = await (await client.get("/task", params={"queue": "goq", "id": written["id"]})).text()
    assert "<td>h</td><td>v</td>" in page and "<dd>archived</dd>" in page
    form = {"csrf": csrf_of(page), "op": "run_task", "queue": "goq", "id": written["id"]}
    assert (await client.post("/action", data=form)).status == 200
    assert go.inspect("task-info", "goq", written["id"])["state"] == "pending"


async def eventually(client: TestClient, path: str, wanted: str) -> str:
    """The page at `path` once it contains `wanted` (polled for up to 10 s: heartbeats)."""
    for _ in range(100):
        page = await (await client.get(path)).text()
        if wanted in page:
            return page
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} never showed {wanted!r}")


@pytest.mark.requires_go
async def test_servers_with_running_tasks_results_and_a_go_scheduler(
    console: MakeClient, go: GoAsynq, redis_url: str
) -> None:
    """A kasynq server holding a task, a result it wrote, a Go scheduler's entry and fires."""
    release = asyncio.Event()

    async def handler(ctx: TaskContext, task: Task) -> None:
        if task.type == "hold":
            await release.wait()
        else:
            await ctx.write_result(b"<done>")

    server = Server(redis_url, concurrency=2, queues={"work": 1}, heartbeat_interval=0.2)
    await server.start(handler)
    try:
        async with AsyncClient.from_url(redis_url) as producer:
            held = await producer.enqueue(Task("hold", b"<p>"), queue="work")
            done = await producer.enqueue(Task("fin", b""), queue="work", retention=3600)
        scheduler = go.start_scheduler(
            [{"spec": "@every 1s", **task_spec("tick", b"tock", queue="cron")}],
            heartbeat_interval=1,
        )
        (entry,) = scheduler.ready["entry_ids"]
        client = await console()
        servers = await eventually(client, "/servers", held.id)
        assert "1 of 2 busy" in servers and "queues work (1)" in servers
        assert "<td>hold</td><td>work</td><td><code>&lt;p&gt;</code></td>" in servers
        result = await eventually(client, f"/task?queue=work&id={done.id}", "completed")
        assert '<pre id="result-text">&lt;done&gt;</pre>' in result
        row = f"{entry}</a></td><td><code>@every 1s</code></td><td>tick</td>"
        await eventually(client, "/scheduler", row)
        history = await eventually(client, f"/scheduler/entry?id={entry}", "<td>20")
        assert "Enqueues of entry" in history
        held_page = await (
            await client.get("/task", params={"queue": "work", "id": held.id})
        ).text()
        assert "<dd>active</dd>" in held_page and 'value="cancel_task"' in held_page
        form = {"csrf": csrf_of(held_page), "op": "cancel_task", "queue": "work", "id": held.id}
        cancelled = await (await client.post("/action", data=form)).text()
        assert f"task {held.id}: cancellation sent" in cancelled
        await eventually(client, "/servers", "0 of 2 busy")
    finally:
        release.set()
        await server.shutdown()


def test_the_command_refuses_a_public_address_without_auth_and_serves_with_a_token(
    redis_url: str, tmp_path: Path
) -> None:
    refused = subprocess.run(
        [*KASYNQ_WEB, "--host", "0.0.0.0", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert "--host 0.0.0.0 is not loopback and no authentication is set" in refused.stderr
    token = tmp_path / "token"
    token.write_text("from-env\n")
    port = free_port()
    env = {
        **os.environ,
        "KASYNQ_REDIS_URL": redis_url,
        "KASYNQ_WEB_PORT": str(port),
        "KASYNQ_WEB_AUTH_TOKEN_FILE": str(token),
        "KASYNQ_WEB_READ_ONLY": "true",
    }
    process = subprocess.Popen(KASYNQ_WEB, env=env, stderr=subprocess.PIPE, text=True)
    try:
        import urllib.error
        import urllib.request

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return r.status == 200

        wait_until(ready, "kasynq web /readyz", timeout=20, tolerate=(OSError,), process=process)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/", headers={"Authorization": "Bearer from-env"}
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert "read-only" in reply.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert "web console listening" in stderr and "from-env" not in stderr


def test_kube_settings_errors_are_clear(redis_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    refused = subprocess.run(
        [*KASYNQ_WEB, "--kube", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert refused.returncode == 2
    assert "--kube: cannot load a Kubernetes config" in refused.stderr
    alone = subprocess.run(
        [*KASYNQ_WEB, "--namespace", "team-a", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert alone.returncode == 2 and "--namespace team-a needs --kube" in alone.stderr


def test_every_option_reads_its_kasynq_web_variable() -> None:
    """The chart configures the console through these variables (the agreed interface)."""
    options = [param for param in web.params if isinstance(param, click.Option)]
    assert len(options) == 11
    for param in options:
        name = param.opts[0].removeprefix("--").upper().replace("-", "_")
        assert isinstance(param.envvar, list) and param.envvar[0] == f"KASYNQ_WEB_{name}"
    redis_url = next(param for param in options if param.name == "redis_url")
    assert redis_url.envvar == ["KASYNQ_WEB_REDIS_URL", "KASYNQ_REDIS_URL"]
