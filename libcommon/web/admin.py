"""The admin port (`ADMIN_PORT`): `/status`, `/ready` and `/metrics` on a port of their own,
for the kubelet's probes and Prometheus, never exposed by the public Service. The main port
then answers `/status` and `/ready` only (no `/metrics`).

It is a second aiohttp site started and stopped with the main app (a cleanup context), in
every worker process (SO_REUSEPORT when WORKERS > 1), sharing the main app's ready checks.
Plain HTTP: it carries no personal data and stays inside the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from libcommon import metrics
from libcommon.settings import ServiceSettings
from libcommon.web.middleware import make_core_middleware
from libcommon.web.ready import (
    READY_CHECKS_KEY,
    READY_INFORMATIONAL_KEY,
    ready_handler,
    status_handler,
)

log = logging.getLogger("libcommon.web")


def add_admin_port(app: web.Application, settings: ServiceSettings, name: str) -> None:
    port = settings.admin_port
    if port is None:
        return
    admin = web.Application(middlewares=[make_core_middleware(name, None)])
    # The same dict: checks a service registers later are seen here too.
    admin[READY_CHECKS_KEY] = app[READY_CHECKS_KEY]
    admin[READY_INFORMATIONAL_KEY] = app[READY_INFORMATIONAL_KEY]
    admin.router.add_get("/status", status_handler)
    admin.router.add_get("/ready", ready_handler)
    admin.router.add_get("/metrics", metrics.metrics_handler)

    async def serve_admin(_app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(admin, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(
                runner, settings.host, port, reuse_port=settings.workers > 1 or None
            )
            await site.start()
            log.info("admin port %d: /status, /ready, /metrics", port)
            yield
        finally:
            await runner.cleanup()

    app.cleanup_ctx.append(serve_admin)
