"""Validating admission webhook for AsynqWorkerPools: what the CRD's CEL rules cannot check.

Cron specs are parsed with the worker's own parser (`kasynq.cron.parse`, robfig/cron v3
`ParseStandard`), so a spec the pool's scheduler would reject is refused when applied instead
of showing up only in a worker's log. Pod template fields a cluster admin may allow
(`podtemplate.ADMIN_ALLOWABLE_SPEC`) are refused here unless allowed, as CEL cannot read that
setting. The same checks run again when the operator renders a pool
(`resources.resolve_pool`), which covers pools admitted while the webhook was down (the chart
registers it with failurePolicy Ignore, so pools can still be applied then).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web
from kasynq.cron import CronError, parse

from kasynq_operator.podtemplate import template_problems

logger = logging.getLogger(__name__)

PATH = "/validate-asynqworkerpool"
# Admin-allowed pod spec fields (podtemplate.allowed_fields_from_env).
ALLOWED_FIELDS = web.AppKey("allowed_fields", frozenset[str])


def schedule_problems(spec: Mapping[str, Any]) -> list[str]:
    """One message per schedule whose cron spec the worker's scheduler would reject."""
    problems = []
    for index, entry in enumerate(spec.get("schedules") or []):
        try:
            parse(str(entry.get("cron", "")))
        except CronError as exc:
            problems.append(f"spec.schedules[{index}].cron: {exc}")
    return problems


def review(
    request: Mapping[str, Any], allowed_fields: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The AdmissionReview answer to one admission request (admission.k8s.io/v1)."""
    body = request.get("request") or {}
    spec = (body.get("object") or {}).get("spec") or {}
    template = spec.get("template") or {}
    problems = schedule_problems(spec) + template_problems(template, allowed_fields)
    response: dict[str, Any] = {"uid": body.get("uid", ""), "allowed": not problems}
    if problems:
        response["status"] = {"code": 422, "reason": "Invalid", "message": "; ".join(problems)}
        logger.info(
            "admission refused namespace=%s name=%s problems=%r",
            body.get("namespace"),
            (body.get("object") or {}).get("metadata", {}).get("name"),
            problems,
        )
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


async def _validate(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        return web.Response(status=400, text="want an AdmissionReview (JSON)\n")
    return web.json_response(review(payload, request.app[ALLOWED_FIELDS]))


async def start_webhook(
    port: int,
    cert_dir: Path,
    host: str = "0.0.0.0",
    allowed_fields: frozenset[str] = frozenset(),
) -> web.AppRunner:
    """Serve the webhook over TLS (`tls.crt`/`tls.key` in `cert_dir`, as a kubernetes.io/tls
    Secret mounts them) until the returned runner is cleaned up."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_dir / "tls.crt", cert_dir / "tls.key")
    app = web.Application()
    app[ALLOWED_FIELDS] = allowed_fields
    app.router.add_post(PATH, _validate)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=context).start()
    logger.info("serving the admission webhook host=%s port=%d path=%s", host, port, PATH)
    return runner
