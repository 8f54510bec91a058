"""The operator's own HTTP endpoint: `/metrics` (Prometheus) and `/healthz`."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)


async def _metrics(_: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def _healthz(_: web.Request) -> web.Response:
    """200 while the operator's event loop answers; kopf restarts failed watches itself."""
    return web.Response(text="ok\n")


async def start_http(port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve /metrics and /healthz on host:port until the returned runner is cleaned up."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logger.info("serving /metrics and /healthz host=%s port=%d", host, port)
    return runner
