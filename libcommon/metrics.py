"""Prometheus request metrics (prometheus-client) and the /metrics handler."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def observe(service: str, method: str, route: str, status: int, seconds: float) -> None:
    labels = (service, method, route, str(status))
    REQUESTS.labels(*labels).inc()
    LATENCY.labels(*labels).observe(seconds)


async def metrics_handler(request: web.Request) -> web.Response:
    body = generate_latest()
    response = web.Response(body=body)
    # CONTENT_TYPE_LATEST carries a charset; aiohttp wants it set as a raw header.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
