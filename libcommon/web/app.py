"""The aiohttp application every service is built on.

`create_base_app` gives an app with the shared core middleware (request id, access log and
metrics, JSON errors), the body size limit and the operational routes `/status`, `/ready`,
`/metrics` (on the admin port instead when ADMIN_PORT is set) and `/openapi.json`. A
service adds its own routes and cleanup contexts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from libcommon import metrics
from libcommon.jsonio import BODY_TIMEOUT_KEY, dumps
from libcommon.logs import AccessLog
from libcommon.settings import ServiceSettings
from libcommon.tracing import tracing_middleware
from libcommon.web.admin import add_admin_port
from libcommon.web.errors import install_json_protocol_errors
from libcommon.web.hardening import (
    CONNECTION_GUARD_KEY,
    ConnectionGuard,
    bound_expect_handlers,
    install_connection_guard,
    set_server_header,
)
from libcommon.web.middleware import make_core_middleware
from libcommon.web.openapi import load_openapi, openapi_handler
from libcommon.web.ready import (
    READY_CHECKS_KEY,
    READY_INFORMATIONAL_KEY,
    ready_handler,
    status_handler,
)

SETTINGS_KEY = web.AppKey("settings", ServiceSettings)
SERVICE_NAME_KEY = web.AppKey("service_name", str)


def create_base_app(
    settings: ServiceSettings,
    *,
    name: str,
    openapi: Path | None = None,
    middlewares: Iterable[Middleware] = (),
) -> web.Application:
    install_json_protocol_errors()
    install_connection_guard()
    access = None
    if settings.access_log and logging.getLevelName(settings.log_level) <= logging.INFO:
        access = AccessLog(name, settings.log_format)
    # With tracing on, the server span wraps everything (the core middleware's access log
    # line and errors included); off, no layer is added.
    traced = tracing_middleware()
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            *([traced] if traced is not None else []),
            make_core_middleware(name, access),
            *middlewares,
        ],
        handler_args={"max_field_size": 16384},
    )
    app[SETTINGS_KEY] = settings
    app[BODY_TIMEOUT_KEY] = settings.body_timeout_s
    app[SERVICE_NAME_KEY] = name
    app[READY_CHECKS_KEY] = {}
    app[READY_INFORMATIONAL_KEY] = set()
    app[CONNECTION_GUARD_KEY] = ConnectionGuard(settings.header_timeout_s, settings.max_connections)
    app.on_response_prepare.append(set_server_header)
    max_body_bytes = settings.max_body_bytes

    async def bound_expect(app: web.Application) -> None:
        # At start-up: every route the service added by then gets it.
        bound_expect_handlers(app, max_body_bytes)

    app.on_startup.append(bound_expect)
    if access is not None:
        flush_access_log = access

        async def flush_on_cleanup(_app: web.Application) -> None:
            flush_access_log.flush()

        app.on_cleanup.append(flush_on_cleanup)
    # HEAD is answered on every GET route (aiohttp adds it).
    app.router.add_get("/status", status_handler)
    app.router.add_get("/ready", ready_handler)
    if settings.admin_port is None:
        app.router.add_get("/metrics", metrics.metrics_handler)
    else:
        add_admin_port(app, settings, name)
    if openapi is not None:
        app.router.add_get(
            "/openapi.json", openapi_handler(dumps(load_openapi(openapi)))
        )
    return app
