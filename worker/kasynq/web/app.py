"""The console's aiohttp application: pages, the one change endpoint, live events, probes.

Reads and changes go through `AsyncInspector` only. Every change is a POST to `/action`
carrying the principal's CSRF token; in read-only mode the forms are not rendered and the
endpoint refuses. Responses forbid inline scripts and framing (Content-Security-Policy), so
even a rendering mistake could not run a payload as script.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import redis
from aiohttp import web

from kasynq.cli.task import BULK_STATES
from kasynq.errors import BrokerError, QueueNotFoundError, TaskNotFoundError
from kasynq.inspector import AsyncInspector, Overview
from kasynq.redaction import describe
from kasynq.web import pages
from kasynq.web.auth import SESSION_COOKIE, Auth
from kasynq.web.html import Markup
from kasynq.web.kube import PoolReader

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class WebSettings:
    """How the console behaves: read-only, Kubernetes pages, refresh and page sizes."""

    read_only: bool = False
    refresh_seconds: float = 2.0
    page_size: int = 20
    history_days: int = 14


INSPECTOR = web.AppKey("inspector", AsyncInspector)
AUTH = web.AppKey("auth", Auth)
SETTINGS = web.AppKey("settings", WebSettings)
CLOSING = web.AppKey("closing", asyncio.Event)
POOLS = web.AppKey("pools", PoolReader)
QUEUE_NAMES = web.AppKey("queue_names", list[str])
"""The queues of the last overview, so the next costs one round trip (`Inspector.overview`)."""
SAMPLER = web.AppKey("sampler", asyncio.Task[None])
PRINCIPAL = web.RequestKey("principal", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    inspector: AsyncInspector,
    auth: Auth,
    settings: WebSettings,
    pools: PoolReader | None = None,
) -> web.Application:
    """The console on `inspector`; with `pools` (`--kube`), the worker pools page too."""
    app = web.Application(middlewares=[guard, failures])
    app[INSPECTOR], app[AUTH], app[SETTINGS] = inspector, auth, settings
    app[CLOSING] = asyncio.Event()
    app[QUEUE_NAMES] = []
    app.on_shutdown.append(_closing)
    if pools is not None:
        app[POOLS] = pools
        app.on_startup.append(_start_sampler)
        app.on_cleanup.append(_stop_sampler)
    static = resources.files("kasynq.web") / "static"
    app.add_routes(
        [
            web.get("/", overview),
            web.get("/queue", queue_page),
            web.get("/task", task_page),
            web.get("/servers", servers_page),
            web.get("/scheduler", scheduler_page),
            web.get("/scheduler/entry", scheduler_history),
            web.get("/pools", pools_page),
            web.get("/events", events),
            web.post("/action", action),
            web.get("/login", login_form),
            web.post("/login", login),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.static("/static", str(static)),
        ]
    )
    app.on_response_prepare.append(_security_headers)
    return app


async def _start_sampler(app: web.Application) -> None:
    app[SAMPLER] = asyncio.create_task(app[POOLS].sample_forever(), name="kube-sampler")


async def _stop_sampler(app: web.Application) -> None:
    app[SAMPLER].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await app[SAMPLER]
    app[POOLS].close()


async def _closing(app: web.Application) -> None:
    """Ends the live-update streams, which would otherwise hold the shutdown up."""
    app[CLOSING].set()


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def view(request: web.Request, notice: str = "") -> pages.View:
    auth, principal = request.app[AUTH], request.get(PRINCIPAL, "")
    return pages.View(
        csrf=auth.csrf_token(principal) if principal else "",
        read_only=request.app[SETTINGS].read_only,
        kube=POOLS in request.app,
        principal=principal,
        notice=notice or request.query.get("notice", ""),
    )


def html(body: Markup, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


class BadRequest(ValueError):
    """A request parameter that cannot be used; the message names it and its value."""


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate, then for a change: refuse in read-only mode, check origin and CSRF."""
    if request.path in OPEN_PATHS or request.path.startswith("/static/"):
        return await handler(request)
    auth = request.app[AUTH]
    headers = {name.lower(): value for name, value in request.headers.items()}
    principal = auth.principal(headers, dict(request.cookies))
    if principal is None:
        return _refused(request, auth)
    request[PRINCIPAL] = principal
    if request.method == "POST":
        if request.app[SETTINGS].read_only:
            return html(
                pages.error_page(view(request), "Read-only", "The console is read-only."), 403
            )
        form = await request.post()
        cross_site = headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")
        if cross_site or not auth.csrf_ok(principal, str(form.get("csrf", ""))):
            log.warning(
                "web change refused reason=csrf principal=%s path=%s", principal, request.path
            )
            message = "The form's CSRF token is missing or wrong: reload the page and try again."
            return html(pages.error_page(view(request), "Refused", message), 403)
    return await handler(request)


def _refused(request: web.Request, auth: Auth) -> web.Response:
    """401: the login form for token auth, a basic-auth challenge, or a plain refusal."""
    log.info("web request refused reason=unauthenticated path=%s", request.path)
    if auth.token is not None and request.method == "GET":
        return html(pages.login_page(view(request), failed=False), 401)
    response = html(pages.error_page(view(request), "Unauthorized", "Sign-in required."), 401)
    if auth.basic_users:
        response.headers["WWW-Authenticate"] = 'Basic realm="kasynq", charset="UTF-8"'
    return response


@web.middleware
async def failures(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Not found → 404, a bad parameter → 400, Redis trouble → 503, each as a page."""
    try:
        return await handler(request)
    except (QueueNotFoundError, TaskNotFoundError) as exc:
        return html(pages.error_page(view(request), "Not found", exc.message), 404)
    except BadRequest as exc:
        return html(pages.error_page(view(request), "Bad request", str(exc)), 400)
    except (redis.RedisError, OSError, BrokerError) as exc:
        log.warning("web redis error path=%s error=%s", request.path, describe(exc))
        return html(pages.error_page(view(request), "Redis unavailable", describe(exc)), 503)


def required(query: Mapping[str, str], name: str) -> str:
    value = query.get(name, "")
    if not value:
        raise BadRequest(f"parameter {name} is required")
    return value


def page_number(query: Mapping[str, str]) -> int:
    text = query.get("page", "1")
    if not text.isdigit() or int(text) < 1:
        raise BadRequest(f"parameter page must be a whole number from 1: page={text!r}")
    return int(text)


# -- pages --------------------------------------------------------------------------------------


async def overview_data(app: web.Application) -> Overview:
    """The overview: one pipelined round trip while the queue list is the last one seen."""
    names = app[QUEUE_NAMES]
    result = await app[INSPECTOR].overview(names)
    names[:] = [info.queue for info in result.queues]
    return result


async def overview(request: web.Request) -> web.Response:
    result = await overview_data(request.app)
    return html(pages.overview(view(request), result.queues, result.servers))


async def queue_page(request: web.Request) -> web.StreamResponse:
    inspector, settings, query = request.app[INSPECTOR], request.app[SETTINGS], request.query
    name = required(query, "name")
    state = query.get("state", "pending")
    if state not in pages.STATES:
        raise BadRequest(f"parameter state must be one of {', '.join(pages.STATES)}: {state=}")
    group = query.get("group") or None
    page = page_number(query)
    task_id = query.get("id", "").strip()
    notice = ""
    if task_id:
        try:
            await inspector.get_task_info(name, task_id)
        except TaskNotFoundError:
            notice = f"No task {task_id} in queue {name}."
        else:
            raise web.HTTPSeeOther(pages.url("/task", queue=name, id=task_id))
    info, groups, history = await asyncio.gather(
        inspector.get_queue_info(name),
        inspector.groups(name),
        inspector.history(name, settings.history_days),
    )
    size = settings.page_size
    if state == "aggregating":
        total = next((g.size for g in groups if g.group == group), 0)
        tasks = (
            await inspector.list_aggregating_tasks(name, group, page_size=size, page=page)
            if group
            else []
        )
    else:
        total = getattr(info, state)
        lister = getattr(inspector, f"list_{state}_tasks")
        tasks = await lister(name, page_size=size, page=page)
    type_filter = query.get("type", "").strip()
    if type_filter:
        tasks = [task for task in tasks if type_filter in task.type]
    listing = pages.TaskListing(state, group, tasks, page, size, total, type_filter)
    return html(pages.queue_page(view(request, notice), info, groups, history, listing))


async def task_page(request: web.Request) -> web.Response:
    queue, task_id = required(request.query, "queue"), required(request.query, "id")
    inspector = request.app[INSPECTOR]
    task, links = await asyncio.gather(  # one round trip each, side by side
        inspector.get_task_info(queue, task_id), inspector.task_links(queue, task_id)
    )
    return html(pages.task_page(view(request), task, links))


async def servers_page(request: web.Request) -> web.Response:
    servers = await request.app[INSPECTOR].servers()
    servers.sort(key=lambda server: (server.host, server.pid))
    return html(pages.servers_page(view(request), servers))


async def scheduler_page(request: web.Request) -> web.Response:
    entries = await request.app[INSPECTOR].scheduler_entries()
    return html(pages.scheduler_page(view(request), entries))


async def scheduler_history(request: web.Request) -> web.Response:
    entry_id = required(request.query, "id")
    events = await request.app[INSPECTOR].list_scheduler_enqueue_events(
        entry_id, page_size=MAX_PAGE_SIZE, page=page_number(request.query)
    )
    return html(pages.scheduler_history_page(view(request), entry_id, events))


async def pools_page(request: web.Request) -> web.Response:
    """`--kube`: the pools of the chosen namespaces, filtered by `namespace` when given."""
    if POOLS not in request.app:
        raise BadRequest("the pools page needs `kasynq web --kube`")
    reader = request.app[POOLS]
    chosen = request.query.get("namespace") or None
    if chosen and reader.namespaces and chosen not in reader.namespaces:
        raise BadRequest(f"parameter namespace is not one this console reads: {chosen=}")
    pools, result = await asyncio.gather(reader.pools(chosen), overview_data(request.app))
    seen = sorted({pool.namespace for pool in await reader.pools(None)} | set(reader.namespaces))
    by_name = {info.queue: info for info in result.queues}
    page = pages.pools_page(view(request), pools, by_name, seen, chosen, reader.error)
    return html(page)


# -- changes ------------------------------------------------------------------------------------


def safe_next(target: str) -> str:
    """Where to go after a change: a path on this site only (no scheme, host or `//`)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def action(request: web.Request) -> web.StreamResponse:
    """Run one change named by the form's `op`, then go back with a notice saying what happened."""
    form = await request.post()  # parsed once by `guard`, cached by aiohttp
    op = str(form.get("op", ""))
    queue = str(form.get("queue", ""))
    back = safe_next(str(form.get("next", "/")))
    try:
        notice = await change(request.app[INSPECTOR], op, form)
    except BadRequest:
        raise  # a malformed form, not a refused change: 400
    except (BrokerError, ValueError) as exc:
        notice = f"{op} refused: {exc}"
    log.info(
        "web change op=%s queue=%s id=%s principal=%s result=%s",
        op,
        queue,
        form.get("id", ""),
        request[PRINCIPAL],
        notice,
    )
    raise web.HTTPSeeOther(pages.url(back, notice=notice))


async def change(inspector: AsyncInspector, op: str, form: Mapping[str, Any]) -> str:
    """Apply `op` to the queue/task/state the form names; the notice describing the result."""
    queue = str(form.get("queue", ""))
    if not queue:
        raise BadRequest("field queue is required")
    verb, _, scope = op.partition("_")
    if op in ("pause", "resume", "delete_queue"):
        method = {"pause": "pause_queue", "resume": "unpause_queue", "delete_queue": "delete_queue"}
        await getattr(inspector, method[op])(queue)
        return f"queue {queue}: {op.replace('_queue', '')} done"
    if scope == "task" and (verb in BULK_STATES or verb == "cancel"):
        task_id = str(form.get("id", ""))
        if not task_id:
            raise BadRequest("field id is required")
        if verb == "cancel":
            await inspector.cancel_processing(task_id)
            return f"task {task_id}: cancellation sent"
        await getattr(inspector, f"{verb}_task")(queue, task_id)
        return f"task {task_id}: {verb} done"
    if verb in BULK_STATES and scope == "all":
        state = str(form.get("state", ""))
        if state not in BULK_STATES[verb]:
            raise BadRequest(f"field state must be one of {', '.join(BULK_STATES[verb])}: {state=}")
        group = [str(form.get("group", ""))] if state == "aggregating" else []
        if group == [""]:
            raise BadRequest("field group is required with state aggregating")
        count = await getattr(inspector, f"{verb}_all_{state}_tasks")(queue, *group)
        return f"{verb}: {count} {state} tasks of queue {queue}"
    raise BadRequest(f"field op is not a known action: op={op!r}")


# -- live updates, sign-in, probes --------------------------------------------------------------


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the overview every refresh, for the pages to update in place."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await response.prepare(request)
    refresh, closing = request.app[SETTINGS].refresh_seconds, request.app[CLOSING]
    while not closing.is_set():
        try:
            result = await overview_data(request.app)
            data = pages.overview_event(result.queues, result.servers)
            event = f"event: overview\ndata: {json.dumps(data)}"
        except (redis.RedisError, OSError, BrokerError) as exc:
            event = f"event: trouble\ndata: {json.dumps(describe(exc))}"
        try:
            await response.write(f"{event}\n\n".encode())
        except (ConnectionResetError, RuntimeError):  # the page went away
            return response
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closing.wait(), refresh)
    return response


async def login_form(request: web.Request) -> web.Response:
    return html(pages.login_page(view(request), failed=False))


async def login(request: web.Request) -> web.Response:
    """Exchange the token typed into the form for a session cookie (HttpOnly, SameSite)."""
    auth = request.app[AUTH]
    form = await request.post()
    if not auth.token_matches(str(form.get("token", ""))):
        log.info("web sign-in refused reason=wrong-token")
        return html(pages.login_page(view(request), failed=True), 401)
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        SESSION_COOKIE,
        auth.session_cookie(),
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
    )
    raise response


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    """200 when Redis answers PING, else 503 with the reason (credentials masked)."""
    try:
        await asyncio.wait_for(request.app[INSPECTOR].ping(), timeout=2.0)
    except (redis.RedisError, OSError, TimeoutError) as exc:
        return web.Response(text=f"redis: {describe(exc)}\n", status=503)
    return web.Response(text="ok\n")


async def serve(
    inspector: AsyncInspector,
    auth: Auth,
    settings: WebSettings,
    host: str,
    port: int,
    pools: PoolReader | None = None,
) -> None:
    """Serve the console on host:port until SIGTERM or SIGINT; closes `inspector` after."""
    runner = web.AppRunner(create_app(inspector, auth, settings, pools), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info(
            "web console listening host=%s port=%d read_only=%s auth=%s kube=%s",
            host,
            port,
            settings.read_only,
            auth.enabled,
            pools is not None,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("web console stopping")
    finally:
        await runner.cleanup()
        await inspector.close()
