"""The aiohttp application every service is built on.

`create_base_app` gives an app with the shared middlewares (request id, access log and
metrics, JSON errors, body size limit) and the operational routes `/status`, `/ready`,
`/metrics` and `/openapi.json`. A service adds its own routes and cleanup contexts.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import re
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from libcommon import metrics
from libcommon.db import DatabaseUnavailable
from libcommon.errors import ApiError
from libcommon.jsonio import BODY_TIMEOUT_KEY, dumps, json_response
from libcommon.logs import AccessLog, request_id_var, setup_logging
from libcommon.settings import ServiceSettings

log = logging.getLogger("libcommon.web")

ReadyCheck = Callable[[], Awaitable[object]]

SETTINGS_KEY = web.AppKey("settings", ServiceSettings)
SERVICE_NAME_KEY = web.AppKey("service_name", str)
READY_CHECKS_KEY = web.AppKey("ready_checks", dict[str, ReadyCheck])
REQUEST_ID_KEY = web.RequestKey("request_id", str)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
READY_CHECK_TIMEOUT_S = 2.0

# Request ids need uniqueness, not secrecy: a random per-process prefix plus a counter is
# unique across replicas and restarts without a urandom syscall per request (uuid4).
_REQUEST_ID_PREFIX = uuid.uuid4().hex[:16]
_request_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_counter):016x}"

_STATUS_MESSAGES = {
    400: "Bad request.",
    401: "Unauthorized.",
    403: "Forbidden.",
    404: "Not found.",
    405: "Method not allowed.",
    408: "Request timeout.",
    413: "Request body too large.",
    415: "Unsupported media type.",
}


def _install_json_protocol_errors() -> None:
    """aiohttp answers HTTP-level parse errors (bad request line, oversized header) from its
    protocol layer, before any middleware, in text/plain and echoing the offending bytes.
    Give those the contract's JSON error body too (a generic message: no input echoed)."""
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
        original(self, request, status, exc, message)  # logs, and raises if already sending
        text = "Malformed HTTP request." if status == 400 else _STATUS_MESSAGES.get(
            status, "Internal server error." if status >= 500 else "Bad request."
        )
        response = web.Response(status=status, body=dumps({"message": text}),
                                content_type="application/json")
        response.force_close()
        return response

    handle_error._bookstore_json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


_install_json_protocol_errors()


def _route_label(request: web.Request) -> str:
    match_info = request.match_info
    resource = match_info.route.resource
    if resource is None or match_info.http_exception is not None:
        return "unmatched"
    return resource.canonical


def error_response(request: web.Request, exc: Exception) -> web.Response:
    """Every error leaves as `{"message": ...}`; nothing internal is ever shown."""
    if isinstance(exc, ApiError):
        return json_response(exc.body(), status=exc.status, headers=exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc  # redirects are aiohttp's to send
        message = _STATUS_MESSAGES.get(exc.status, exc.reason or "Error.")
        if exc.status == 405:
            message = f"Method {request.method} is not allowed on {request.path}."
        elif exc.status == 404:
            message = f"No route for {request.path}."
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return json_response({"message": message}, status=exc.status, headers=headers)
    if isinstance(exc, DatabaseUnavailable):
        log.warning("database unavailable", exc_info=exc)
        return json_response({"message": "Database unavailable, try again later."}, status=503)
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return json_response({"message": "Internal server error."}, status=500)


def _make_core_middleware(service: str, access: AccessLog | None) -> Middleware:
    """Request id, JSON errors, metrics and the access log in one layer (each middleware
    layer costs a coroutine frame on every request)."""
    request_metrics = metrics.RequestMetrics(service)

    @web.middleware
    async def core_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        incoming = request.headers.get(REQUEST_ID_HEADER)
        request_id = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else (
            new_request_id()
        )
        request[REQUEST_ID_KEY] = request_id
        token = request_id_var.set(request_id)
        status = 500  # if cancelled (client gone) before an answer
        try:
            try:
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


async def status_handler(request: web.Request) -> web.Response:
    return web.Response(text="OK", content_type="text/plain")


async def _run_check(check: ReadyCheck) -> str:
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            result = await check()
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return result if isinstance(result, str) and result != "ok" else "ok"


async def ready_handler(request: web.Request) -> web.Response:
    checks = request.app[READY_CHECKS_KEY]
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    healthy = all(result == "ok" for result in results)
    return json_response(
        {"status": "ok" if healthy else "unavailable", "checks": report},
        status=200 if healthy else 503,
    )


def add_ready_check(app: web.Application, name: str, check: ReadyCheck) -> None:
    """Register a readiness check: it raises (or returns a reason string) when unhealthy."""
    app[READY_CHECKS_KEY][name] = check


def _openapi_handler(document: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def openapi_handler(request: web.Request) -> web.Response:
        return web.Response(body=document, content_type="application/json")

    return openapi_handler


def load_openapi(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.safe_load(handle)
    return document


def create_base_app(
    settings: ServiceSettings,
    *,
    name: str,
    openapi: Path | None = None,
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    access = None
    if settings.access_log and logging.getLevelName(settings.log_level) <= logging.INFO:
        access = AccessLog(name, settings.log_format)
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[_make_core_middleware(name, access), *middlewares],
        handler_args={"max_field_size": 16384},
    )
    app[SETTINGS_KEY] = settings
    app[BODY_TIMEOUT_KEY] = settings.body_timeout_s
    app[SERVICE_NAME_KEY] = name
    app[READY_CHECKS_KEY] = {}
    if access is not None:
        flush_access_log = access

        async def flush_on_cleanup(_app: web.Application) -> None:
            flush_access_log.flush()

        app.on_cleanup.append(flush_on_cleanup)
    app.router.add_get("/status", status_handler, allow_head=True)
    app.router.add_get("/ready", ready_handler, allow_head=False)
    app.router.add_get("/metrics", metrics.metrics_handler, allow_head=False)
    if openapi is not None:
        app.router.add_get(
            "/openapi.json", _openapi_handler(dumps(load_openapi(openapi))), allow_head=False
        )
    return app


AppFactory = Callable[[Any], web.Application | Awaitable[web.Application]]


def _serve(create_app: AppFactory, settings: ServiceSettings, name: str, reuse_port: bool) -> None:
    # A spawned worker starts with nothing configured: logging is set up in every process.
    setup_logging(name, settings.log_level, settings.log_format)
    log.info("serving %s on %s:%d", name, settings.host, settings.port)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows has none
        pass
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,
        print=None,
        reuse_port=reuse_port,
        handle_signals=True,
    )


def run_service(create_app: AppFactory, settings: ServiceSettings, *, name: str) -> None:
    """Serve the app; with WORKERS > 1, that many processes share the port (SO_REUSEPORT)."""
    if settings.workers == 1:
        _serve(create_app, settings, name, reuse_port=False)
        return
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_serve, args=(create_app, settings, name, True), daemon=False)
        for _ in range(settings.workers)
    ]
    for worker in workers:
        worker.start()

    def forward(_signum: int, _frame: object) -> None:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: each worker drains its in-flight requests

    signal.signal(signal.SIGTERM, forward)
    try:
        for worker in workers:
            worker.join()
    except KeyboardInterrupt:
        for worker in workers:
            worker.join()
