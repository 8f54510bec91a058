"""The worker's small HTTP endpoint for Kubernetes probes and Prometheus.

`/healthz` (liveness): 200 whenever the process and its event loop answer; Redis plays no
part, so a Redis outage never gets healthy pods restarted (they recover by themselves when
Redis returns). The body adds the `key=value` lines of `Probes.details` (e.g. the scheduler's
role), which never change the code.
`/readyz` (readiness): 200 only while Redis answers PING and the server fetches tasks (503
while Redis is down, once stopped, or draining).
`/metrics`: Prometheus text exposition, rendered in a thread so that a large scrape does not
hold the event loop (handlers, heartbeats and `/healthz` go on meanwhile).
One asyncio server on the worker's own loop; no framework, GET only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST

from kasynq.redaction import describe

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_SECONDS = 5.0
HEALTH_TIMEOUT_SECONDS = 2.0


@dataclass
class Probes:
    """What the endpoints report; supplied by the Server."""

    redis_reachable: Callable[[], Awaitable[bool]]
    fetching: Callable[[], bool]
    metrics: Callable[[], bytes]
    details: Callable[[], Mapping[str, object]] | None = None


class HTTPServer:
    """Serves `/healthz`, `/readyz` and `/metrics` on `host:port` (port 0 picks a free one)."""

    def __init__(self, probes: Probes, port: int, host: str = "0.0.0.0") -> None:
        self._probes = probes
        self._host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        if self._server is None:
            raise RuntimeError("http server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._requested_port)
        log.info("http endpoint listening host=%s port=%d", self._host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _redis_reachable(self) -> bool:
        try:
            return await asyncio.wait_for(self._probes.redis_reachable(), HEALTH_TIMEOUT_SECONDS)
        except Exception:  # any failure means "not reachable"
            return False

    async def _respond(self, path: str) -> tuple[int, str, bytes]:
        if path == "/healthz":
            details = self._probes.details() if self._probes.details is not None else {}
            extra = "".join(f"{key}={value}\n" for key, value in details.items()).encode()
            return 200, "text/plain", b"ok\n" + extra
        if path == "/readyz":
            if not self._probes.fetching():
                return 503, "text/plain", b"draining\n"
            if not await self._redis_reachable():
                return 503, "text/plain", b"redis down\n"
            return 200, "text/plain", b"ready\n"
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, await asyncio.to_thread(self._probes.metrics)
        return 404, "text/plain", b"not found\n"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = request_line.decode("latin-1").split()
            if len(parts) < 2 or parts[0] not in ("GET", "HEAD"):
                status, ctype, body = 405, "text/plain", b"method not allowed\n"
            else:
                status, ctype, body = await self._respond(parts[1].split("?", 1)[0])
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}.get(
                status, "Service Unavailable"
            )
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if parts[:1] == ["HEAD"] else body))
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError) as exc:
            log.debug("http request dropped error=%s", describe(exc))
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
