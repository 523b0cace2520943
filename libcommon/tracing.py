"""OpenTelemetry tracing, configured only by the standard `OTEL_*` environment variables.

Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
set, unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. Off, nothing here runs
per request: no middleware is added, client sessions get no trace config, the database is not
wrapped and the OpenTelemetry SDK is not even imported. On, every process (each `WORKERS`
worker) exports its spans over OTLP/HTTP (protobuf) with a batch processor; everything else
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`,
`OTEL_BSP_*`, `OTEL_EXPORTER_OTLP_HEADERS`/`_TIMEOUT`/`_COMPRESSION`, `OTEL_PROPAGATORS`) is
read by the SDK itself.

Which spans come from where:

* server span per request: `tracing_middleware` (by hand; see its docstring for why not
  `opentelemetry-instrumentation-aiohttp-server`);
* client span per upstream call, with `traceparent` injected: `client_trace_configs()`
  (`opentelemetry-instrumentation-aiohttp-client`'s TraceConfig);
* Kafka `send`/`receive` spans and the `traceparent` record header:
  `opentelemetry-instrumentation-aiokafka`;
* one span per SQL statement: `libcommon.db.traced.TracedDatabase`;
* outbox relay and CRM spans: `span()` / `context_from_traceparent()` in those modules.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from libcommon import logs

if TYPE_CHECKING:
    import aiohttp
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("libcommon.tracing")

TRACER_NAME = "bookstore"
_provider: TracerProvider | None = None


def tracing_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def is_active() -> bool:
    """True once `setup_tracing` installed a provider in this process."""
    return _provider is not None


def setup_tracing(service: str) -> bool:
    """Install the SDK's tracer provider for this process if tracing is enabled (idempotent).

    `service` is the default `service.name`; `OTEL_SERVICE_NAME` overrides it. Returns whether
    tracing is on."""
    global _provider
    if _provider is not None:
        return True
    if not tracing_enabled():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes: dict[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # Producer spans inject `traceparent` into record headers; getone() continues it.
    AIOKafkaInstrumentor().instrument(tracer_provider=provider)
    logs.trace_ids_hook = current_trace_ids
    _provider = provider
    log.info("tracing on: OTLP/HTTP export as %s",
             provider.resource.attributes.get(SERVICE_NAME, service))
    return True


def shutdown_tracing() -> None:
    """Export what is buffered and stop (at process exit)."""
    global _provider
    provider, _provider = _provider, None
    if provider is None:
        return
    logs.trace_ids_hook = None
    try:
        provider.force_flush(timeout_millis=5000)
    finally:
        provider.shutdown()


def get_tracer(name: str = TRACER_NAME) -> trace.Tracer:
    """A tracer of this process's provider (a no-op tracer when tracing is off)."""
    if _provider is not None:
        return _provider.get_tracer(name)
    return trace.get_tracer(name)


def current_trace_ids() -> tuple[str, str] | None:
    """(trace id, span id) in W3C hex of the current span, or None outside any trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def current_traceparent() -> str | None:
    """The current context as a W3C `traceparent` value (None when not tracing)."""
    if _provider is None:
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    """A parent context from a stored `traceparent` (None when absent or invalid)."""
    if not traceparent:
        return None
    ctx = propagate.extract({"traceparent": traceparent})
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def context_from_kafka_headers(
    headers: list[tuple[str, bytes | None]] | tuple[tuple[str, bytes | None], ...],
) -> otel_context.Context:
    carrier = {key: value.decode("latin-1") for key, value in headers
               if value is not None and key in ("traceparent", "tracestate")}
    return propagate.extract(carrier)


@contextmanager
def span(
    name: str,
    *,
    parent: otel_context.Context | None = None,
    kind: trace.SpanKind = trace.SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[trace.Span]:
    """A span made current for the block; exceptions are recorded and set the error status.
    A no-op span when tracing is off."""
    with get_tracer().start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes
    ) as current:
        yield current


def client_trace_configs() -> list[aiohttp.TraceConfig]:
    """For `aiohttp.ClientSession(trace_configs=...)`: a client span per request with
    `traceparent` injected, or nothing when tracing is off."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config(tracer_provider=_provider)]


def tracing_middleware() -> Middleware | None:
    """The server span of every request, continuing the client's `traceparent`; None when
    tracing is off (then no middleware is added at all).

    By hand rather than `opentelemetry-instrumentation-aiohttp-server` 0.66b1 (checked with
    aiohttp 3.14): its middleware only works after `AioHttpServerInstrumentor().instrument()`,
    which replaces the `aiohttp.web.Application` class process-wide (apps created before are
    silently untraced, tests' apps are changed too), and it records OpenTelemetry HTTP metrics
    on every request that we already have in Prometheus. The span here has the same name
    (`METHOD /route/{canonical}`) and the stable HTTP semantic-convention attributes, plus the
    request id, so a span and the log lines of its request find each other both ways.
    """
    if _provider is None:
        return None
    server_tracer = get_tracer("libcommon.web")
    server_kind = trace.SpanKind.SERVER
    error = trace.Status(trace.StatusCode.ERROR)

    @web.middleware
    async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else None
        name = f"{request.method} {route}" if route else request.method
        parent = propagate.extract(request.headers)
        attributes: dict[str, Any] = {
            "http.request.method": request.method,
            "url.path": request.path,
            "url.scheme": request.scheme,
        }
        if route:
            attributes["http.route"] = route
        with server_tracer.start_as_current_span(
            name, context=parent, kind=server_kind, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as current:
            response = await handler(request)  # the core middleware answers every error
            current.set_attribute("http.response.status_code", response.status)
            request_id = response.headers.get("X-Request-ID")
            if request_id:
                current.set_attribute("bookstore.request_id", request_id)
            if response.status >= 500:
                current.set_status(error)
            return response

    return traced
