"""The console's pages as HTML, from what the inspector returned (no I/O here).

Every value is placed through `kasynq.web.html.tag`, which escapes it: payloads, task types,
queue names and error texts render as text whatever bytes they hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from kasynq.broker.inspect import DailyStats, GroupInfo, QueueInfo
from kasynq.cli.task import BULK_STATES
from kasynq.dependencies import TaskLinks, is_waiting
from kasynq.inspector import SchedulerEnqueueEvent, SchedulerEntry, ServerInfo
from kasynq.lanes import lane_groups
from kasynq.task import TaskInfo, TaskState
from kasynq.web.auth import ANONYMOUS
from kasynq.web.chart import history_chart, line_chart
from kasynq.web.html import Child, Markup, tag
from kasynq.web.kube import Pool

STATES = [state.value for state in TaskState]
COUNT_FIELDS = ("pending", "active", "scheduled", "retry", "archived", "completed", "aggregating")
TASK_ACTIONS = {
    # What one task of a state may undergo (Go's Inspector refuses the others); cancel asks
    # the server running an active task to stop it (Go: Inspector.CancelProcessing).
    "pending": ("archive", "delete"),
    "active": ("cancel",),
    "scheduled": ("run", "archive", "delete"),
    "retry": ("run", "archive", "delete"),
    "archived": ("run", "delete"),
    "completed": ("run", "delete"),
    "aggregating": ("run", "archive", "delete"),
}
PAYLOAD_PREVIEW_CHARS = 60
HEX_LIMIT_BYTES = 4096


@dataclass(frozen=True)
class View:
    """What every page needs besides its data: the CSRF token, which controls to show, and
    who is signed in (shown in the navigation bar)."""

    csrf: str
    read_only: bool
    kube: bool
    principal: str
    notice: str = ""


def url(path: str, **query: object) -> str:
    """`path` with the parameters that are not None added to its query, URL-encoded."""
    given = {key: str(value) for key, value in query.items() if value is not None}
    if not given:
        return path
    return f"{path}{'&' if '?' in path else '?'}{urlencode(given)}"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment is not None else "-"


def span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    return f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def payload_text(payload: bytes) -> str | None:
    """The payload as UTF-8 text, or None when it is not valid UTF-8."""
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return None


def payload_preview(payload: bytes) -> str:
    text = payload_text(payload)
    if text is None:
        return f"<{len(payload)} bytes>"
    return text if len(text) <= PAYLOAD_PREVIEW_CHARS else text[:PAYLOAD_PREVIEW_CHARS] + "…"


def payload_json(payload: bytes) -> str | None:
    """The payload pretty-printed when it is JSON, else None."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return None


def layout(view: View, title: str, *body: Child) -> Markup:
    """The page frame: navigation, a notice line, then `body`."""
    links = [("/", "Queues"), ("/servers", "Servers"), ("/scheduler", "Scheduler")]
    if view.kube:
        links.append(("/pools", "Pools"))
    nav = tag(
        "nav",
        None,
        tag("strong", None, "kasynq"),
        [tag("a", {"href": href}, text) for href, text in links],
        tag("span", {"class_": "mode"}, "read-only" if view.read_only else None),
        tag("span", {"class_": "user"}, view.principal)
        if view.principal not in ("", ANONYMOUS)
        else None,
        tag("span", {"class_": "live", "id": "live"}, ""),
    )
    return Markup(
        "<!DOCTYPE html>"
        + tag(
            "html",
            {"lang": "en"},
            tag(
                "head",
                None,
                tag("meta", {"charset": "utf-8"}),
                tag("meta", {"name": "viewport", "content": "width=device-width"}),
                tag("title", None, f"{title} · kasynq"),
                tag("link", {"rel": "stylesheet", "href": "/static/console.css"}),
                tag("script", {"src": "/static/console.js", "defer": True}),
            ),
            tag(
                "body",
                None,
                nav,
                tag("main", None, tag("h1", None, title), notice(view.notice), *body),
            ),
        )
    )


def notice(text: str) -> Markup | None:
    return tag("p", {"class_": "notice", "role": "status"}, text) if text else None


def action_form(
    view: View, op: str, label: str, back: str, confirm: str | None = None, **fields: str
) -> Markup | None:
    """A POST form for one change with its CSRF token; nothing in read-only mode."""
    if view.read_only:
        return None
    hidden = {"csrf": view.csrf, "op": op, "next": back, **fields}
    return tag(
        "form",
        {"method": "post", "action": "/action", "class_": "action", "data_confirm": confirm},
        [tag("input", {"type": "hidden", "name": k, "value": v}) for k, v in hidden.items()],
        tag("button", {"type": "submit", "name": "button", "value": op}, label),
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[Child]], **attrs: str) -> Markup:
    return tag(
        "table",
        attrs,
        tag("thead", None, tag("tr", None, [tag("th", None, h) for h in headers])),
        tag("tbody", None, [tag("tr", None, [tag("td", None, c) for c in row]) for row in rows]),
    )


def overview(view: View, infos: Sequence[QueueInfo], servers: int) -> Markup:
    """Every queue with its sizes by state, today's processed/failed, latency and memory."""
    headers = ["queue", "state", "size", *COUNT_FIELDS, "processed", "failed", "latency", "memory"]
    by_name = {info.queue: info for info in infos}
    rows = []
    # A queue's priority lanes under it, highest first, each marked with its level (§15).
    for queue, lane in (member for group in lane_groups(by_name).values() for member in group):
        info = by_name[queue]
        cells = {name: getattr(info, name) for name in ("size", *COUNT_FIELDS)}
        cells |= {"processed": info.processed, "failed": info.failed}
        rows.append(
            tag(
                "tr",
                {"data_queue": info.queue, "data_lane": lane or None},
                tag(
                    "td",
                    None,
                    tag("a", {"href": url("/queue", name=info.queue)}, info.queue),
                    tag("span", {"class_": "lane"}, f"{lane} lane") if lane else None,
                ),
                tag("td", {"data_field": "state"}, "paused" if info.paused else "run"),
                [tag("td", {"data_field": name}, value) for name, value in cells.items()],
                tag("td", {"data_field": "latency"}, span(info.latency)),
                tag("td", {"data_field": "memory"}, size(info.memory_usage)),
            )
        )
    return layout(
        view,
        "Queues",
        tag(
            "p",
            None,
            f"{len(infos)} queues, ",
            tag("a", {"href": "/servers"}, f"{servers} servers"),
            " ",
            tag(
                "input",
                {
                    "id": "queue-filter",
                    "type": "search",
                    "placeholder": "filter queues",
                    "aria_label": "filter queues by name",
                },
            ),
        ),
        tag(
            "section",
            {"class_": "chart"},
            tag("h2", None, "Throughput, all queues (live)"),
            line_chart(
                [], [("processed/s", []), ("failed/s", [])], "per second", chart_id="throughput"
            ),
        ),
        tag(
            "table",
            {"id": "queues", "data_live": "overview"},
            tag("thead", None, tag("tr", None, [tag("th", None, h) for h in headers])),
            tag("tbody", None, rows),
        ),
    )


@dataclass(frozen=True)
class TaskListing:
    """One page of a queue's tasks of one state (or one group when aggregating)."""

    state: str
    group: str | None
    tasks: Sequence[TaskInfo]
    page: int
    page_size: int
    total: int
    type_filter: str


def queue_page(
    view: View,
    info: QueueInfo,
    groups: Sequence[GroupInfo],
    history: Sequence[DailyStats],
    listing: TaskListing,
) -> Markup:
    """A queue: counts by state as tabs, history chart, groups, queue actions, tasks."""
    queue = info.queue
    here = url("/queue", name=queue, state=listing.state, group=listing.group)
    tabs = tag(
        "ul",
        {"class_": "tabs", "data_queue": queue},
        [
            tag(
                "li",
                {"class_": "current" if state == listing.state else None},
                tag(
                    "a",
                    {"href": url("/queue", name=queue, state=state)},
                    f"{state} ",
                    tag("span", {"data_field": state}, getattr(info, state)),
                ),
            )
            for state in STATES
        ],
    )
    facts = table(
        ["size", "latency", "memory", "processed today", "failed today", "groups", "state"],
        [
            [
                info.size,
                span(info.latency),
                size(info.memory_usage),
                info.processed,
                info.failed,
                info.groups,
                "paused" if info.paused else "run",
            ]
        ],
    )
    controls = tag(
        "div",
        {"class_": "controls"},
        action_form(view, "resume", "Resume queue", here, queue=queue)
        if info.paused
        else action_form(view, "pause", "Pause queue", here, queue=queue),
        action_form(
            view, "delete_queue", "Delete queue", "/", f"Delete queue {queue}?", queue=queue
        ),
    )
    group_list = (
        tag(
            "section",
            None,
            tag("h2", None, "Groups"),
            table(
                ["group", "size"],
                [
                    [
                        tag(
                            "a",
                            {"href": url("/queue", name=queue, state="aggregating", group=g.group)},
                            g.group,
                        ),
                        g.size,
                    ]
                    for g in groups
                ],
                id="groups",
            ),
        )
        if groups
        else None
    )
    return layout(
        view,
        f"Queue {queue}",
        facts,
        controls,
        tag("section", {"class_": "chart"}, tag("h2", None, "History"), history_chart(history)),
        group_list,
        tabs,
        task_listing(view, queue, listing, here),
    )


def task_listing(view: View, queue: str, listing: TaskListing, here: str) -> Markup:
    """Search, bulk actions, the tasks table and the pager."""
    state, group = listing.state, listing.group
    search = tag(
        "form",
        {"method": "get", "action": "/queue", "class_": "search"},
        tag("input", {"type": "hidden", "name": "name", "value": queue}),
        tag("input", {"type": "hidden", "name": "state", "value": state}),
        tag("input", {"type": "hidden", "name": "group", "value": group}),
        tag("input", {"name": "id", "placeholder": "task ID", "aria_label": "task ID"}),
        tag(
            "input",
            {
                "name": "type",
                "placeholder": "type contains",
                "value": listing.type_filter or None,
                "aria_label": "task type",
            },
        ),
        tag("button", {"type": "submit"}, "Search"),
    )
    needs_group = state == "aggregating"
    bulk = (
        None
        if needs_group and not group
        else [
            action_form(
                view,
                f"{verb}_all",
                f"{verb.capitalize()} all {state}",
                here,
                f"{verb} all {state} tasks of {queue}?",
                queue=queue,
                state=state,
                **({"group": group} if group else {}),
            )
            for verb, states in BULK_STATES.items()
            if state in states
        ]
    )
    rows: list[list[Child]] = [
        [
            task_link(queue, task.id),
            task.type,
            tag("code", None, payload_preview(task.payload)),
            task.retried,
            tag("span", {"class_": "waiting"}, "waiting for dependencies")
            if is_waiting(task)
            else when(task.next_process_at or task.last_failed_at or task.completed_at),
            task.last_err or "",
        ]
        for task in listing.tasks
    ]
    pages = max(1, -(-listing.total // listing.page_size))
    pager = tag(
        "p",
        {"class_": "pager"},
        tag("a", {"href": url(here, page=listing.page - 1)}, "← previous")
        if listing.page > 1
        else None,
        f" page {listing.page} of {pages} ({listing.total} {state}) ",
        tag("a", {"href": url(here, page=listing.page + 1)}, "next →")
        if listing.page < pages
        else None,
    )
    heading = f"{state} tasks" + (f" of group {group}" if group else "")
    return tag(
        "section",
        None,
        tag("h2", None, heading),
        search,
        tag("div", {"class_": "controls"}, bulk),
        table(["id", "type", "payload", "retried", "time", "last error"], rows, id="tasks"),
        pager,
    )


def task_page(view: View, task: TaskInfo, links: TaskLinks | None = None) -> Markup:
    """One task: payload as text/JSON/hex, headers, result, last error, retries, timestamps,
    what it waits (or, for an hour after its release, waited) for and what waits for it."""
    back = url("/queue", name=task.queue, state=task.state.value, group=task.group or None)
    here = url("/task", queue=task.queue, id=task.id)
    waiting = is_waiting(task)  # scheduled to Go asynq, due in 2200 (§13.2)
    fields: list[tuple[str, Child]] = [
        ("queue", tag("a", {"href": back}, task.queue)),
        ("state", "waiting for dependencies (scheduled)" if waiting else task.state.value),
        ("type", task.type),
        ("retried", f"{task.retried} of {task.max_retry}"),
        ("last error", task.last_err or "-"),
        ("last failed at", when(task.last_failed_at)),
        (
            "next process at",
            "once its dependencies settle" if waiting else when(task.next_process_at),
        ),
        ("completed at", when(task.completed_at)),
        ("deadline", when(task.deadline)),
        ("timeout", span(task.timeout) if task.timeout else "-"),
        ("retention", span(task.retention) if task.retention else "-"),
        ("group", task.group or "-"),
        ("orphaned", "yes" if task.is_orphaned else "no"),
    ]
    details = tag(
        "dl", {"id": "task"}, [(tag("dt", None, k), tag("dd", None, v)) for k, v in fields]
    )
    actions = tag(
        "div",
        {"class_": "controls"},
        [
            action_form(
                view,
                f"{verb}_task",
                verb.capitalize(),
                back if verb == "delete" else here,
                f"{verb} task {task.id}?" if verb == "delete" else None,
                queue=task.queue,
                id=task.id,
            )
            for verb in TASK_ACTIONS[task.state.value]
        ],
    )
    headers = table(["header", "value"], sorted(task.headers.items()), id="headers")
    return layout(
        view,
        f"Task {task.id}",
        actions,
        details,
        dependency_sections(links, waiting) if links else None,
        bytes_section("Payload", "payload", task.payload),
        tag("section", None, tag("h2", None, "Headers"), headers) if task.headers else None,
        bytes_section("Result", "result", task.result) if task.result is not None else None,
    )


def dependency_sections(links: TaskLinks, waiting: bool) -> list[Markup]:
    """A task's dependencies with their states and its dependants (§13.3), each linked."""
    sections = []
    if links.dependencies:
        rows = [
            [edge.queue, task_link(edge.queue, edge.task_id), edge.state]
            for edge in links.dependencies
        ]
        sections.append(
            tag(
                "section",
                None,
                tag("h2", None, "Waits for" if waiting else "Waited for"),
                table(["queue", "task", "state"], rows, id="dependencies"),
            )
        )
    if links.dependants:
        more = links.dependant_count - len(links.dependants)
        sections.append(
            tag(
                "section",
                None,
                tag("h2", None, f"Waited for by {links.dependant_count}"),
                table(
                    ["queue", "task"],
                    [[queue, task_link(queue, task_id)] for queue, task_id in links.dependants],
                    id="dependants",
                ),
                tag("p", None, f"… and {more} more") if more > 0 else None,
            )
        )
    return sections


def task_link(queue: str, task_id: str) -> Markup:
    return tag("a", {"href": url("/task", queue=queue, id=task_id)}, task_id)


def bytes_section(title: str, name: str, data: bytes) -> Markup:
    """Bytes as text (when UTF-8), pretty JSON (when JSON) and hex, each escaped."""
    text, pretty = payload_text(data), payload_json(data)
    shown = data[:HEX_LIMIT_BYTES]
    hex_dump = " ".join(f"{byte:02x}" for byte in shown)
    cut = f" … ({len(data)} bytes)" if len(data) > HEX_LIMIT_BYTES else ""
    return tag(
        "section",
        {"class_": "bytes"},
        tag("h2", None, title),
        tag("h3", None, "text"),
        tag("pre", {"id": f"{name}-text"}, text if text is not None else "(not UTF-8)"),
        [tag("h3", None, "JSON"), tag("pre", {"id": f"{name}-json"}, pretty)] if pretty else None,
        tag("h3", None, "hex"),
        tag("pre", {"id": f"{name}-hex"}, hex_dump + cut),
    )


def servers_page(view: View, servers: Sequence[ServerInfo]) -> Markup:
    """Live servers with their queues and active workers (what each is running)."""
    sections = []
    for server in servers:
        busy = len(server.active_workers)
        workers = table(
            ["task", "type", "queue", "payload", "started", "deadline"],
            [
                [
                    task_link(w.queue, w.task_id),
                    w.task_type,
                    w.queue,
                    tag("code", None, payload_preview(w.task_payload)),
                    when(w.started),
                    when(w.deadline),
                ]
                for w in server.active_workers
            ],
        )
        queues = ", ".join(f"{name} ({weight})" for name, weight in server.queues.items())
        sections.append(
            tag(
                "section",
                {"class_": "server"},
                tag("h2", None, f"{server.host} pid {server.pid}"),
                tag(
                    "p",
                    None,
                    f"{server.status}, {busy} of {server.concurrency} busy, started "
                    f"{when(server.started)}, queues {queues}"
                    + (", strict priority" if server.strict_priority else ""),
                ),
                workers,
            )
        )
    empty = tag("p", None, "No live servers.") if not servers else None
    return layout(view, "Servers", empty, sections)


def scheduler_page(view: View, entries: Sequence[SchedulerEntry]) -> Markup:
    rows = [
        [
            tag("a", {"href": url("/scheduler/entry", id=entry.id)}, entry.id),
            tag("code", None, entry.spec),
            entry.task_type,
            tag("code", None, payload_preview(entry.task_payload)),
            ", ".join(entry.options),
            when(entry.next),
            when(entry.prev),
        ]
        for entry in entries
    ]
    headers = ["entry", "spec", "type", "payload", "options", "next", "previous"]
    return layout(view, "Scheduler entries", table(headers, rows, id="entries"))


def scheduler_history_page(
    view: View, entry_id: str, events: Sequence[SchedulerEnqueueEvent]
) -> Markup:
    rows = [[event.task_id, when(event.enqueued_at)] for event in events]
    return layout(
        view, f"Enqueues of entry {entry_id}", table(["task", "enqueued at"], rows, id="events")
    )


def login_page(view: View, failed: bool) -> Markup:
    return layout(
        view,
        "Sign in",
        tag("p", {"class_": "notice"}, "Wrong token." if failed else "A token is required."),
        tag(
            "form",
            {"method": "post", "action": "/login"},
            tag("input", {"type": "password", "name": "token", "aria_label": "token"}),
            tag("button", {"type": "submit"}, "Sign in"),
        ),
    )


def error_page(view: View, title: str, message: str) -> Markup:
    return layout(view, title, tag("p", {"class_": "error"}, message))


def overview_event(infos: Sequence[QueueInfo], servers: int) -> Mapping[str, object]:
    """The overview as the live-update event carries it: the page fills its cells from it and
    draws the throughput chart from successive totals."""
    return {
        "servers": servers,
        "processed_total": sum(info.processed_total for info in infos),
        "failed_total": sum(info.failed_total for info in infos),
        "queues": {
            info.queue: {
                "state": "paused" if info.paused else "run",
                "size": info.size,
                **{name: getattr(info, name) for name in COUNT_FIELDS},
                "processed": info.processed,
                "failed": info.failed,
                "latency": span(info.latency),
                "memory": size(info.memory_usage),
            }
            for info in infos
        },
    }


def pools_page(
    view: View,
    pools: Sequence[Pool],
    infos: Mapping[str, QueueInfo],
    namespaces: Sequence[str],
    chosen: str | None,
    error: str,
) -> Markup:
    """Each pool: replicas over time, the last decision and its inputs, Events, its queues."""
    choose = tag(
        "form",
        {"method": "get", "action": "/pools", "class_": "search"},
        tag(
            "select",
            {"name": "namespace", "aria_label": "namespace"},
            tag("option", {"value": ""}, "all namespaces"),
            [tag("option", {"value": ns, "selected": ns == chosen}, ns) for ns in namespaces],
        ),
        tag("button", {"type": "submit"}, "Filter"),
    )
    sections = [pool_section(pool, infos) for pool in pools]
    empty = tag("p", None, "No AsynqWorkerPools here.") if not pools else None
    return layout(
        view,
        "Worker pools",
        tag("p", {"class_": "error"}, f"Kubernetes API: {error}") if error else None,
        choose,
        empty,
        sections,
    )


def pool_section(pool: Pool, infos: Mapping[str, QueueInfo]) -> Markup:
    decision = pool.last_decision
    inputs = decision.get("inputs") or {}
    summary = (
        f"{pool.replicas if pool.replicas is not None else '-'} replicas "
        f"({pool.ready if pool.ready is not None else '-'} ready), desired "
        f"{pool.desired if pool.desired is not None else '-'}, "
        f"min {pool.min_replicas if pool.min_replicas is not None else '-'} "
        f"max {pool.max_replicas if pool.max_replicas is not None else '-'}"
    )
    last = tag(
        "section",
        None,
        tag("h3", None, "Last decision"),
        tag(
            "p",
            {"class_": "decision"},
            f"{decision.get('time', '-')}: {decision.get('currentReplicas', '-')} → "
            f"{decision.get('desiredReplicas', '-')} (recommended "
            f"{decision.get('recommendedReplicas', '-')}): {decision.get('reason', '-')}"
            if decision
            else "No decision yet.",
        ),
        tag(
            "div",
            {"class_": "side"},
            table(
                ["input", "value"],
                [[k, f"{v:g}"] for k, v in sorted(inputs.items())],
                class_="inputs",
            )
            if inputs
            else None,
            table(
                ["condition", "status", "reason", "message"],
                [
                    [c.get(key, "") for key in ("type", "status", "reason", "message")]
                    for c in pool.conditions
                ],
            )
            if pool.conditions
            else None,
        ),
    )
    times = [moment.strftime("%H:%M:%S") for moment, _, _ in pool.history]
    chart = line_chart(
        times,
        [
            ("replicas", [float(replicas) for _, replicas, _ in pool.history]),
            ("desired", [float(desired) for _, _, desired in pool.history]),
        ],
        "replicas",
    )
    queue_rows: list[list[Child]] = []
    for ref in pool.queues:
        info = infos.get(ref.redis_name)
        status = ref.status
        queue_rows.append(
            [
                tag("a", {"href": url("/queue", name=ref.redis_name)}, ref.name)
                if info
                else ref.name,
                ref.weight if ref.weight is not None else "-",
                info.pending if info else status.get("pending", "-"),
                info.active if info else status.get("active", "-"),
                info.scheduled if info else status.get("scheduled", "-"),
                info.retry if info else status.get("retry", "-"),
                span(info.latency) if info else "-",
                f"{status.get('processedPerSecond', 0):.1f}",
                "paused" if (info.paused if info else status.get("paused")) else "run",
            ]
        )
    queues = table(
        [
            "queue",
            "weight",
            "pending",
            "active",
            "scheduled",
            "retry",
            "latency",
            "done/s",
            "state",
        ],
        queue_rows,
        class_="pool-queues",
    )
    events = table(
        ["time", "type", "reason", "message", "count"],
        [[e.time, e.type, e.reason, e.message, e.count] for e in pool.events],
        class_="events",
    )
    return tag(
        "section",
        {"class_": "pool", "data_pool": f"{pool.namespace}/{pool.name}"},
        tag("h2", None, f"{pool.namespace}/{pool.name}"),
        tag("p", {"class_": "replicas"}, summary),
        tag(
            "div",
            {"class_": "side"},
            tag("div", None, tag("h3", None, "Replicas over time"), chart),
            tag("div", None, tag("h3", None, "Queues"), queues),
        ),
        last,
        tag("h3", None, "Events"),
        events,
    )
