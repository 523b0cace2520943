"""libcommon.tracing against a real OTLP/HTTP receiver: configuration from OTEL_* only, the
server span continuing a client's traceparent, client spans injecting it, one span per SQL
statement, and trace ids in the log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from opentelemetry.sdk.trace import TracerProvider

from libcommon import logs, tracing
from libcommon.db import connect
from libcommon.db.traced import TracedDatabase
from tests.fixtures.otlp import OtlpReceiver
from tests.fixtures.procs import ROOT

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_PARENT = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"
UPSTREAM = web.AppKey("upstream", str)


@pytest.mark.parametrize(("env", "enabled"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
])
def test_tracing_is_on_only_with_an_otlp_endpoint(env: dict[str, str], enabled: bool) -> None:
    assert tracing.tracing_enabled(env) is enabled


@pytest.mark.slow  # starts a process
def test_off_means_no_middleware_no_trace_config_no_sdk() -> None:
    code = (
        "import sys, libcommon.tracing as t, libcommon.db.traced;"
        "assert t.setup_tracing('x') is False;"
        "assert t.tracing_middleware() is None and t.client_trace_configs() == [];"
        "assert t.current_traceparent() is None;"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'sdk imported';"
        "print('ok')"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.slow  # starts a process
def test_setup_from_environment_exports_to_the_receiver(otlp_receiver: OtlpReceiver) -> None:
    """A process configured by OTEL_* alone exports its spans (and flushes at shutdown)."""
    code = (
        "import libcommon.tracing as t;"
        "assert t.setup_tracing('default-name');"
        "span = t.span('unit-of-work', attributes={'answer': 42});"
        "span.__enter__(); span.__exit__(None, None, None);"
        "t.shutdown_tracing()"
    )
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
           "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint,
           "OTEL_SERVICE_NAME": "from-env", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    spans = otlp_receiver.wait_for(lambda spans: any(s.name == "unit-of-work" for s in spans), 10)
    (span,) = [s for s in spans if s.name == "unit-of-work"]
    assert span.service == "from-env"
    assert span.attributes == {"answer": 42}
    assert otlp_receiver.rejected == 0


@pytest.fixture
def provider(otlp_provider: TracerProvider) -> TracerProvider:
    return otlp_provider


async def test_server_span_continues_the_client_trace_and_db_statements_are_children(
    provider: TracerProvider, otlp_receiver: OtlpReceiver, tmp_path: Path,
) -> None:
    db = TracedDatabase(await connect(f"sqlite+aiosqlite:///{tmp_path / 't.db'}"), namespace="t")
    await db.execute("CREATE TABLE books (isbn TEXT PRIMARY KEY)")
    upstream_headers: dict[str, str] = {}

    async def upstream(request: web.Request) -> web.Response:
        upstream_headers.update(request.headers)
        return web.json_response({})

    async def handler(request: web.Request) -> web.Response:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO books (isbn) VALUES (%s)", ("1",))
        await db.fetch_all("SELECT isbn FROM books WHERE isbn = %s", ("1",))
        async with (
            aiohttp.ClientSession(trace_configs=tracing.client_trace_configs()) as client,
            client.get(f"{request.app[UPSTREAM]}/engine") as answer,
        ):
            await answer.read()
        return web.json_response({}, headers={"X-Request-ID": "rid-1"})

    middleware = tracing.tracing_middleware()
    assert middleware is not None
    up_app = web.Application()
    up_app.router.add_get("/engine", upstream)
    app = web.Application(middlewares=[middleware])
    app.router.add_get("/books/{isbn}", handler)
    async with TestServer(up_app) as up_server, TestServer(app) as server:
        app[UPSTREAM] = str(up_server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as client, client.get(
            server.make_url("/books/1"), headers={"traceparent": TRACEPARENT}
        ) as response:
            assert response.status == 200
    await db.close()

    spans = otlp_receiver.wait_for(lambda s: len([x for x in s if x.trace_id == CLIENT_TRACE]) >= 5)
    by_name = {s.name: s for s in otlp_receiver.trace(CLIENT_TRACE)}
    server_span = by_name["GET /books/{isbn}"]
    assert server_span.kind == "SPAN_KIND_SERVER"
    assert server_span.parent_span_id == CLIENT_PARENT
    assert server_span.attributes["http.route"] == "/books/{isbn}"
    assert server_span.attributes["http.response.status_code"] == 200
    assert server_span.attributes["bookstore.request_id"] == "rid-1"
    transaction = by_name["transaction"]
    assert transaction.parent_span_id == server_span.span_id
    insert = by_name["INSERT books"]
    assert insert.parent_span_id == transaction.span_id
    assert insert.attributes["db.query.text"] == "INSERT INTO books (isbn) VALUES (%s)"
    assert insert.attributes["db.system.name"] == "sqlite"
    select = by_name["SELECT books"]
    assert select.parent_span_id == server_span.span_id
    assert select.attributes["db.response.returned_rows"] == 1
    (client_span,) = [s for s in spans if s.trace_id == CLIENT_TRACE and s.kind == "SPAN_KIND_CLIENT"
                      and s.scope.startswith("opentelemetry.instrumentation.aiohttp_client")]
    assert client_span.parent_span_id == server_span.span_id
    # The upstream received the client span as its parent.
    assert upstream_headers["traceparent"] == f"00-{CLIENT_TRACE}-{client_span.span_id}-01"
    assert otlp_receiver.rejected == 0


async def test_5xx_marks_the_server_span_as_an_error(
    provider: TracerProvider, otlp_receiver: OtlpReceiver,
) -> None:
    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"message": "x"}, status=503)

    middleware = tracing.tracing_middleware()
    assert middleware is not None
    app = web.Application(middlewares=[middleware])
    app.router.add_get("/x", failing)
    async with (
        TestServer(app) as server,
        aiohttp.ClientSession() as client,
        client.get(server.make_url("/x"), headers={"traceparent": TRACEPARENT}),
    ):
        pass
    spans = otlp_receiver.wait_for(lambda s: any(x.name == "GET /x" for x in s))
    (span,) = [s for s in spans if s.name == "GET /x"]
    assert span.status_code == "STATUS_CODE_ERROR"
    assert span.attributes["http.response.status_code"] == 503


def test_log_lines_carry_trace_and_span_ids(provider: TracerProvider) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("unit"))
    logger = logging.getLogger("test.tracing.logs")
    logger.addHandler(handler)
    logger.propagate = False
    token = logs.request_id_var.set("rid-42")
    try:
        with tracing.span("work") as span:
            logger.warning("inside")
            context = span.get_span_context()
        logger.warning("outside")
    finally:
        logs.request_id_var.reset(token)
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "rid-42"
    assert inside["trace_id"] == f"{context.trace_id:032x}"
    assert inside["span_id"] == f"{context.span_id:016x}"
    assert "trace_id" not in outside and outside["request_id"] == "rid-42"


async def test_access_log_line_carries_the_trace_id(provider: TracerProvider) -> None:
    buffer = io.BytesIO()
    access = logs.AccessLog("unit", "json", stream=buffer)
    with tracing.span("request") as span:
        access.log("GET", "/books/1", 200, 1.5, "rid-7")
        access.flush()
        trace_id = f"{span.get_span_context().trace_id:032x}"
    line = json.loads(buffer.getvalue())
    assert line["request_id"] == "rid-7" and line["trace_id"] == trace_id


def test_traceparent_round_trip(provider: TracerProvider) -> None:
    with tracing.span("produce"):
        value = tracing.current_traceparent()
        assert value is not None
        ids = tracing.current_trace_ids()
    assert ids is not None and value.startswith(f"00-{ids[0]}-{ids[1]}-")
    parent = tracing.context_from_traceparent(value)
    assert parent is not None
    with tracing.span("consume", parent=parent):
        again = tracing.current_trace_ids()
    assert again is not None and again[0] == ids[0]
    assert tracing.context_from_traceparent("garbage") is None
    assert tracing.context_from_traceparent(None) is None


def test_the_base_app_adds_the_server_span_layer_only_when_tracing_is_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from libcommon.settings import ServiceSettings
    from libcommon.web import create_base_app

    settings = ServiceSettings(access_log=False)
    off = create_base_app(settings, name="off")
    assert len(off.middlewares) == 1  # the core middleware alone
    monkeypatch.setattr(tracing, "_provider", TracerProvider())
    on = create_base_app(settings, name="on")
    assert len(on.middlewares) == 2
    assert getattr(on.middlewares[0], "__name__", "") == "traced"  # outermost: wraps the access log
