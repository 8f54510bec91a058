"""The web console on a private event loop thread, for tests and benchmarks.

`running_console` serves `kasynq.web` on a free loopback port in this process (no start-up
of a `kasynq web` subprocess per configuration) and stops it, closing its Redis client, on
exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from aiohttp import web
from kasynq.inspector import AsyncInspector
from kasynq.web.app import WebSettings, create_app
from kasynq.web.auth import Auth
from kasynq.web.kube import PoolReader

START_TIMEOUT_SECONDS = 10.0


@contextlib.contextmanager
def running_console(
    redis_url: str,
    auth: Auth | None = None,
    settings: WebSettings | None = None,
    pools: PoolReader | None = None,
) -> Iterator[str]:
    """Serve the console on 127.0.0.1; yields its base URL (`http://127.0.0.1:PORT`).

    With `pools` (a `PoolReader`), the `--kube` pools page too.
    """
    loop = asyncio.new_event_loop()
    started: list[web.AppRunner] = []

    async def start() -> str:
        inspector = AsyncInspector.from_url(redis_url)
        app = create_app(inspector, auth or Auth.build(), settings or WebSettings(), pools)
        app.on_cleanup.append(lambda _: inspector.close())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        started.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    thread = threading.Thread(target=loop.run_forever, name="web-console", daemon=True)
    thread.start()
    try:
        base = asyncio.run_coroutine_threadsafe(start(), loop).result(START_TIMEOUT_SECONDS)
        yield base
    finally:
        if started:
            stop = asyncio.run_coroutine_threadsafe(started[0].cleanup(), loop)
            stop.result(START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(START_TIMEOUT_SECONDS)
        loop.close()
