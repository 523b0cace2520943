"""The shared app: settings errors, JSON errors, body limit, graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from libcommon.errors import ApiError
from libcommon.jsonio import json_response
from libcommon.settings import ServiceSettings
from libcommon.web import add_ready_check, create_base_app
from tests.fixtures.procs import ROOT, free_port, wait_http


def make_app(**overrides: Any) -> web.Application:
    app = create_base_app(ServiceSettings(access_log=False, **overrides), name="test")

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret: password=hunter2 at /srv/app.py line 3")

    async def api_error(request: web.Request) -> web.Response:
        raise ApiError(409, "conflict here", errors=[{"field": "x", "message": "bad"}])

    async def echo(request: web.Request) -> web.Response:
        return json_response({"size": len(await request.read())})

    app.router.add_get("/boom", boom)
    app.router.add_get("/api-error", api_error)
    app.router.add_post("/echo", echo)
    return app


async def test_unhandled_errors_hide_internals(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app())
    response = await client.get("/boom")
    assert response.status == 500
    body = await response.json()
    assert body == {"message": "Internal server error."}


async def test_api_error_body(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app())
    response = await client.get("/api-error")
    assert response.status == 409
    assert await response.json() == {
        "message": "conflict here", "errors": [{"field": "x", "message": "bad"}]}


async def test_body_limit_is_configurable(aiohttp_client: Any) -> None:
    client = await aiohttp_client(make_app(max_body_bytes=2048))
    assert (await client.post("/echo", data=b"x" * 2048)).status == 200
    too_big = await client.post("/echo", data=b"x" * 2049)
    assert too_big.status == 413
    assert (await too_big.json())["message"] == "Request body too large."


async def test_ready_reports_each_check(aiohttp_client: Any) -> None:
    app = make_app()

    async def healthy() -> None:
        return None

    async def broken() -> None:
        raise ConnectionRefusedError("broker unreachable")

    add_ready_check(app, "db", healthy)
    add_ready_check(app, "broker", broken)
    client = await aiohttp_client(app)
    response = await client.get("/ready")
    assert response.status == 503
    assert await response.json() == {
        "status": "unavailable", "checks": {"db": "ok", "broker": "broker unreachable"}}


@pytest.mark.slow  # starts a process
def test_bad_setting_stops_with_one_line_naming_the_variable() -> None:
    env = {**os.environ, "PORT": "not-a-port", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "svc_book"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("configuration error: PORT:")


SLOW_APP = """
import asyncio
from aiohttp import web
from libcommon.settings import ServiceSettings
from libcommon.web import create_base_app, run_service

def create_app(settings):
    app = create_base_app(settings, name="slow")
    async def slow(request):
        await asyncio.sleep(1.0)
        return web.Response(text="finished")
    app.router.add_get("/slow", slow)
    return app

run_service(create_app, ServiceSettings(), name="slow")
"""


@pytest.mark.slow  # starts a process
async def test_sigterm_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    port = free_port()
    script = tmp_path / "slow_app.py"
    script.write_text(SLOW_APP)
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT),
           "SHUTDOWN_TIMEOUT_S": "5"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, cwd=ROOT)
    try:
        await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/status", 20.0, proc.poll)
        async with aiohttp.ClientSession() as session:
            request = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/slow"))
            await asyncio.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            response = await request
            assert response.status == 200
            assert await response.text() == "finished"
        assert await asyncio.to_thread(proc.wait, 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_access_log_lines_are_batched_json(tmp_path: Path) -> None:
    import io

    import orjson

    from libcommon.logs import AccessLog

    stream = io.BytesIO()
    access = AccessLog("svc", "json", stream=stream, flush_interval_s=0.05)
    access.log("GET", "/books/1", 200, 1.234, "rid-1")
    access.log("POST", "/books", 201, 2.0, "rid-2")
    assert stream.getvalue() == b""  # not yet: batched
    await asyncio.sleep(0.15)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["msg"], e["request_id"], e["status"]) for e in lines] == [
        ("GET /books/1 200 1.2ms", "rid-1", 200), ("POST /books 201 2.0ms", "rid-2", 201)]
    assert lines[0]["ts"].endswith("Z") and lines[0]["service"] == "svc"


def test_generated_request_ids_are_unique() -> None:
    from libcommon.web.request_id import new_request_id

    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000


async def test_a_stalled_request_body_gets_408_not_a_hang(aiohttp_server: Any) -> None:
    from libcommon.jsonio import read_json

    app = create_base_app(ServiceSettings(access_log=False, body_timeout_s=0.3), name="test")

    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json(request))

    app.router.add_post("/echo", echo)
    server = await aiohttp_server(app)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"partial\": ")
    await writer.drain()
    async with asyncio.timeout(5):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_malformed_http_gets_a_json_error_without_echoing_input(aiohttp_server: Any) -> None:
    server = await aiohttp_server(make_app())
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(b"GET /boom HTTP/1.1\r\nHost: x\r\nX-Big: " + b"secret" * 4000 + b"\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        raw = await reader.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") or head.startswith(b"HTTP/1.0 400")
    assert b"application/json" in head
    assert body == b'{"message":"Malformed HTTP request."}'
    writer.close()
