"""The core middleware: request id, JSON errors, metrics and the access log in one layer
(each middleware layer costs a coroutine frame on every request)."""

from __future__ import annotations

import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from libcommon import metrics
from libcommon.errors import ApiError
from libcommon.logs import AccessLog, request_id_var
from libcommon.web.errors import error_response
from libcommon.web.request_id import REQUEST_ID_HEADER, REQUEST_ID_KEY, request_id_from


def _route_label(request: web.Request) -> str:
    match_info = request.match_info
    resource = match_info.route.resource
    if resource is None or match_info.http_exception is not None:
        return "unmatched"
    return resource.canonical


def make_core_middleware(service: str, access: AccessLog | None) -> Middleware:
    request_metrics = metrics.RequestMetrics(service)

    @web.middleware
    async def core_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request[REQUEST_ID_KEY] = request_id
        token = request_id_var.set(request_id)
        status = 500  # if cancelled (client gone) before an answer
        try:
            try:
                if not request.raw_path.startswith("/"):
                    # Absolute-form (`GET http://evil.com/x`) or asterisk-form target: we are
                    # no proxy, and nothing may be built from another host's URL.
                    raise ApiError(400, "The request target must be a path (origin-form).")
                response = await handler(request)
            except Exception as exc:  # CancelledError is a BaseException: it passes through
                response = error_response(request, exc)
            response.headers[REQUEST_ID_HEADER] = request_id
            status = response.status
            return response
        finally:
            elapsed = time.perf_counter() - started
            request_metrics.observe(request.method, _route_label(request), status, elapsed)
            if access is not None:
                access.log(request.method, request.path, status, elapsed * 1000, request_id)
            request_id_var.reset(token)

    return core_middleware
