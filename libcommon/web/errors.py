"""Every error leaves as `{"message": ...}`: exceptions from handlers, and aiohttp's own
protocol-level errors (installed explicitly by the app factory)."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client import Counter

from libcommon.db import DatabaseUnavailable
from libcommon.db.errors import error_text
from libcommon.errors import ApiError
from libcommon.jsonio import dumps, json_response
from libcommon.web.hardening import SERVER_HEADER
from libcommon.web.retry_after import retry_after_header

log = logging.getLogger("libcommon.web")

MALFORMED_REQUESTS = Counter(
    "http_malformed_requests_total",
    "Requests aiohttp refused before any handler (bad request line or headers, too long)",
    ["status", "reason"],
)

STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Unauthorized.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    408: "Request timeout.",
    413: "Request body too large.",
    415: "Unsupported media type.",
}


def error_response(request: web.Request, exc: Exception) -> web.Response:
    """Every error leaves as `{"message": ...}`; nothing internal is ever shown."""
    if isinstance(exc, ApiError):
        return json_response(exc.body(), status=exc.status, headers=exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc  # redirects are aiohttp's to send
        message = STATUS_MESSAGES.get(exc.status, exc.reason or "Error.")
        if exc.status == 405:
            message = f"Method {request.method} is not allowed on {request.path}."
        elif exc.status == 404:
            message = f"No route for {request.path}."
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return json_response({"message": message}, status=exc.status, headers=headers)
    if isinstance(exc, DatabaseUnavailable):
        # One line, no traceback: during an outage every request would log one.
        log.warning("database unavailable on %s %s: %s", request.method, request.path,
                    error_text(exc))
        return json_response({"message": "Database unavailable, try again later."}, status=503,
                             headers={"Retry-After": retry_after_header(exc.retry_after_s)})
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return json_response({"message": "Internal server error."}, status=500)


def install_json_protocol_errors() -> None:
    """aiohttp answers HTTP-level parse errors (bad request line, oversized header) from its
    protocol layer, before any middleware, in text/plain and echoing the offending bytes.
    Give those the contract's JSON error body too (a generic message: no input echoed),
    and log each once, at INFO and without a traceback (aiohttp logs an ERROR with a full
    traceback: a flood of malformed requests would flood the logs), counted in
    `http_malformed_requests_total`. A 500 from this layer stays an ERROR with traceback.

    aiohttp offers no hook for this, so `RequestHandler.handle_error` is wrapped, once per
    process (idempotent); `create_base_app` calls it, nothing does at import time.
    """
    original = RequestHandler.handle_error
    if getattr(original, "_bookstore_json", False):
        return

    def handle_error(
        self: RequestHandler,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            original(self, request, status, exc, message)  # ERROR with traceback: a bug
        else:
            reason = type(exc).__name__ if exc is not None else "unknown"
            MALFORMED_REQUESTS.labels(str(status), reason).inc()
            # The reason text can carry the client's bytes: %r escapes them.
            log.info("malformed HTTP request from %s answered %d: %s %r", request.remote,
                     status, reason, str(message or exc or "")[:200])
            if request.writer.output_size > 0:
                raise ConnectionError("Response is sent already, cannot send another")
        text = "Malformed HTTP request." if status == 400 else STATUS_MESSAGES.get(
            status, "Internal server error." if status >= 500 else "Bad request."
        )
        response = web.Response(status=status, body=dumps({"message": text}),
                                content_type="application/json",
                                headers={"Server": SERVER_HEADER})
        response.force_close()
        return response

    handle_error._bookstore_json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
