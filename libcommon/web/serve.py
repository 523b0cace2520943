"""Running a service: one process, or WORKERS processes sharing the port (SO_REUSEPORT)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from libcommon.logs import setup_logging
from libcommon.metrics import MULTIPROC_DIR_ENV
from libcommon.settings import ServiceSettings
from libcommon.tracing import setup_tracing, shutdown_tracing

log = logging.getLogger("libcommon.web")

AppFactory = Callable[[Any], web.Application | Awaitable[web.Application]]


def _serve(create_app: AppFactory, settings: ServiceSettings, name: str, reuse_port: bool) -> None:
    # A spawned worker starts with nothing configured: logging is set up in every process.
    setup_logging(name, settings.log_level, settings.log_format)
    # OTEL_* only; off (and free) without OTEL_EXPORTER_OTLP_ENDPOINT. Per process: a
    # worker's spans leave through its own exporter.
    setup_tracing(name)
    ssl_context = settings.ssl_context()
    log.info("serving %s on %s:%d%s", name, settings.host, settings.port,
             " (HTTPS)" if ssl_context is not None else "")
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency; Windows has none
        pass
    try:
        web.run_app(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout_s,
            access_log=None,
            print=None,
            reuse_port=reuse_port,
            ssl_context=ssl_context,
            handle_signals=True,
        )
    finally:
        shutdown_tracing()  # exports the spans still buffered


def run_service(create_app: AppFactory, settings: ServiceSettings, *, name: str) -> None:
    """Serve the app; with WORKERS > 1, that many processes share the port (SO_REUSEPORT)."""
    if settings.workers == 1:
        _serve(create_app, settings, name, reuse_port=False)
        return
    metrics_dir, owned = _multiprocess_metrics_dir()
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
    finally:
        if owned:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics_dir() -> tuple[str, bool]:
    """The directory the workers' metrics live in (set in the environment the spawned workers
    inherit), emptied first: samples of an earlier run would be added to this one's.
    Returns (path, whether we created it and so remove it at the end)."""
    configured = os.environ.get(MULTIPROC_DIR_ENV)
    if configured:
        os.makedirs(configured, exist_ok=True)
        for entry in os.scandir(configured):
            if entry.name.endswith(".db"):
                os.unlink(entry.path)
        return configured, False
    path = tempfile.mkdtemp(prefix="bookstore-metrics-")
    os.environ[MULTIPROC_DIR_ENV] = path
    return path, True
