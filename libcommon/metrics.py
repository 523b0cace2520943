"""Prometheus request metrics (prometheus-client) and the /metrics handler.

With WORKERS > 1 the processes share one port, so a scrape reaches one of them at random: the
supervisor (libcommon.web.serve) then sets PROMETHEUS_MULTIPROC_DIR before starting the workers,
every worker writes its samples there, and /metrics adds up all of them (prometheus-client's
multiprocess mode). Gauges say how to combine processes (`multiprocess_mode`); it is ignored
with one process.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    PLATFORM_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# /metrics says nothing an operator does not need: no python_info (the exact interpreter
# version helps an attacker more than an operator, who has the image tag). process_* (memory,
# CPU, file descriptors) and the request metrics stay.
with contextlib.suppress(KeyError):
    REGISTRY.unregister(PLATFORM_COLLECTOR)

REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# With a reader configured (libcommon/db/routing.py): which pool served each statement, the
# reader's lag as last sampled, each pool's state, and the reads that went elsewhere.
DB_QUERIES = Counter(
    "db_queries_total", "Statements run, by pool (writer/reader) and kind (write/point/list)",
    ["database", "pool", "kind"],
)
DB_REPLICA_LAG = Gauge(
    "db_replica_lag_seconds",
    "Reader replication lag as last sampled (+Inf: unknown, replication stopped or reader down)",
    ["database"], multiprocess_mode="livemax",
)
DB_POOL_UP = Gauge(
    "db_pool_up", "1 while the pool's server answers, else 0 (any worker seeing it down: 0)",
    ["database", "pool"], multiprocess_mode="livemin",
)
DB_FALLBACKS = Counter(
    "db_read_fallbacks_total",
    "Reads served by the other pool: lists on the writer (reason lag or reader_down), reads on "
    "the reader (writer_down)",
    ["database", "reason"],
)

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """Per-service request metrics; label children are cached (a `.labels()` lookup takes a
    lock and builds a key on every call)."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # Any token is a valid HTTP method: unknown ones share a label so a client cannot
        # grow the label set without bound.
        if method not in _KNOWN_METHODS:
            method = "OTHER"
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            labels = (self._service, method, route, str(status))
            children = self._children[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
        children[0].inc()
        children[1].observe(seconds)


def render_metrics() -> bytes:
    """This process's metrics, or every worker's added up in multiprocess mode."""
    if os.environ.get(MULTIPROC_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


async def metrics_handler(request: web.Request) -> web.Response:
    body = render_metrics()
    response = web.Response(body=body)
    # CONTENT_TYPE_LATEST carries a charset; aiohttp wants it set as a raw header.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
