"""Protection at the HTTP connection level, below the handlers (aiohttp has no hook for it).

- Slowloris: a connection whose request header is not complete HEADER_TIMEOUT_S after its
  first byte (or after it connected) gets 408 and is closed; aiohttp alone would hold it
  until its 75 s keep-alive timeout.
- At most MAX_CONNECTIONS open connections per process: one more is answered 503 at once
  and closed (normal clients are served as long as the cap is not reached; with the header
  timeout, slow ones cannot hold the slots for long).
- `Expect: 100-continue` with a Content-Length above MAX_BODY_BYTES: 413 at once, without
  `100 Continue` and without reading the body (aiohttp would invite the body and then wait).
- No `Server: Python/... aiohttp/...` banner: every response says `Server: bookstore`.

`install_connection_guard` wraps three RequestHandler methods once per process; the limits
come from the app each connection belongs to (`CONNECTION_GUARD_KEY`), so an app without a
guard (and any plain aiohttp server) behaves as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from prometheus_client import Counter

from libcommon.jsonio import dumps, json_response

SERVER_HEADER = "bookstore"

CONNECTIONS_REFUSED = Counter(
    "http_connections_refused_total", "Connections closed at once: MAX_CONNECTIONS reached"
)
HEADER_TIMEOUTS = Counter(
    "http_header_timeouts_total", "Connections closed: request header not complete in time"
)


def _raw_response(status: int, reason: str, message: str, extra: str = "") -> bytes:
    body = dumps({"message": message})
    return (
        f"HTTP/1.1 {status} {reason}\r\nServer: {SERVER_HEADER}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode() + body


_REFUSED = _raw_response(503, "Service Unavailable", "Too many connections, try again.",
                         "Retry-After: 1\r\n")
_HEADER_TIMEOUT = _raw_response(408, "Request Timeout", "Request header not received in time.")


@dataclass
class ConnectionGuard:
    """Per app: the limits, the open connections and their header deadlines."""

    header_timeout_s: float
    max_connections: int
    open: int = 0
    _deadlines: dict[int, asyncio.TimerHandle] = field(default_factory=dict)

    def arm(self, handler: RequestHandler) -> None:
        key = id(handler)
        if key not in self._deadlines:
            loop = asyncio.get_running_loop()
            self._deadlines[key] = loop.call_later(
                self.header_timeout_s, self._expire, handler
            )

    def disarm(self, handler: RequestHandler) -> None:
        deadline = self._deadlines.pop(id(handler), None)
        if deadline is not None:
            deadline.cancel()

    def _expire(self, handler: RequestHandler) -> None:
        self._deadlines.pop(id(handler), None)
        HEADER_TIMEOUTS.inc()
        transport = handler.transport
        if transport is not None and not transport.is_closing():
            transport.write(_HEADER_TIMEOUT)
        handler.force_close()
        if transport is not None:
            transport.close()


CONNECTION_GUARD_KEY = web.AppKey("connection_guard", ConnectionGuard)
_GUARDED = "_bookstore_guard"


def _guard_of(handler: RequestHandler) -> ConnectionGuard | None:
    manager = handler._manager  # the web.Server: its request_handler is app._handle
    if manager is None:
        return None
    app = getattr(manager.request_handler, "__self__", None)
    if not isinstance(app, web.Application):
        return None
    return app.get(CONNECTION_GUARD_KEY)


def install_connection_guard() -> None:
    """Wrap RequestHandler.connection_made / data_received / connection_lost (idempotent)."""
    if getattr(RequestHandler.connection_made, _GUARDED, False):
        return
    made: Callable[..., None] = RequestHandler.connection_made
    received: Callable[..., None] = RequestHandler.data_received
    lost: Callable[..., None] = RequestHandler.connection_lost
    # A connection's guard is remembered from connection_made (the manager is gone in
    # connection_lost); RequestHandler has __slots__, so by id.
    guards: dict[int, ConnectionGuard] = {}

    def connection_made(self: RequestHandler, transport: asyncio.BaseTransport) -> None:
        made(self, transport)
        guard = _guard_of(self)
        if guard is None:
            return
        guards[id(self)] = guard
        guard.open += 1
        if guard.open > guard.max_connections:
            CONNECTIONS_REFUSED.inc()
            transport.write(_REFUSED)  # type: ignore[attr-defined]
            self.force_close()
            transport.close()
            return
        guard.arm(self)

    def data_received(self: RequestHandler, data: bytes) -> None:
        received(self, data)
        guard = guards.get(id(self))
        if guard is None:
            return
        if self._messages or self._request_in_progress:
            guard.disarm(self)  # a whole request header arrived
        elif data:
            guard.arm(self)  # the first byte of a request: its header has this long

    def connection_lost(self: RequestHandler, exc: BaseException | None) -> None:
        guard = guards.pop(id(self), None)
        if guard is not None:
            guard.open -= 1
            guard.disarm(self)
        lost(self, exc)

    for wrapper in (connection_made, data_received, connection_lost):
        setattr(wrapper, _GUARDED, True)
    RequestHandler.connection_made = connection_made  # type: ignore[method-assign]
    RequestHandler.data_received = data_received  # type: ignore[method-assign]
    RequestHandler.connection_lost = connection_lost  # type: ignore[method-assign]


async def set_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: our name, no version (aiohttp only sets Server when absent)."""
    response.headers[hdrs.SERVER] = SERVER_HEADER


def expect_handler(max_body_bytes: int) -> Callable[[web.Request], Any]:
    """`Expect: 100-continue`: 413 at once when the announced body is over the limit."""

    async def handle_expect(request: web.Request) -> web.StreamResponse | None:
        expect = request.headers.get(hdrs.EXPECT, "")
        if expect.lower() == "100-continue":
            length = request.content_length
            if length is not None and length > max_body_bytes:
                response = json_response(
                    {"message": f"Request body too large (over {max_body_bytes} bytes)."},
                    status=413,
                )
                response.force_close()  # the body is never read
                return response
            if request.version >= (1, 1):
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                request.writer.output_size = 0
            return None
        raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect[:100]!r}")

    return handle_expect


def bound_expect_handlers(app: web.Application, max_body_bytes: int) -> None:
    """Give every route the bounded Expect handler (run before any middleware)."""
    handler = expect_handler(max_body_bytes)
    for route in app.router.routes():
        if hasattr(route, "_expect_handler"):
            route._expect_handler = handler
