"""Hostile HTTP against a real BFF process over raw loopback sockets: absolute-form targets,
forged log lines, slowloris, malformed requests, version banners, oversized Expect:
100-continue, and readiness under a 1,000-connection load (issue 16, items 3-6, 8, 9, 11)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.builders import SECRET, make_token
from tests.fixtures.procs import ServiceProcess, free_port

TOKEN = make_token()


def port_of(service: ServiceProcess) -> int:
    assert service.port is not None
    return service.port


async def exchange(port: int, raw: bytes, timeout_s: float = 5.0) -> bytes:
    """Send raw bytes, read until the server closes or the headers+body arrive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        data = b""
        async with asyncio.timeout(timeout_s):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length and not head.startswith(
                        b"HTTP/1.1 100"):
                    break
        return data
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@pytest.fixture
def bff(service_process: Callable[..., ServiceProcess]) -> ServiceProcess:
    # The upstream is never reached by these requests: a closed port.
    return service_process("bff_book", {
        "JWT_SECRET": SECRET, "BOOK_SERVICE_URL": f"http://127.0.0.1:{free_port()}",
        "LOG_FORMAT": "text", "HEADER_TIMEOUT_S": "1", "MAX_CONNECTIONS": "60",
    })


@pytest.mark.parametrize("module", ["bff_book", "bff_customer"])
async def test_absolute_form_target_is_400_never_a_request_elsewhere(
    module: str, service_process: Callable[..., ServiceProcess]
) -> None:
    # Item 3: an upstream that counts what reaches it; before, 500 (URL built from the target).
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.raw_path)
        return web.json_response({})

    upstream = web.Application()
    upstream.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(upstream)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        url_setting = "BOOK_SERVICE_URL" if module == "bff_book" else "CUSTOMER_SERVICE_URL"
        proxy = service_process(module, {"JWT_SECRET": SECRET,
                                         url_setting: f"http://127.0.0.1:{port}"})
        path = "/books/x" if module == "bff_book" else "/customers/1"
        for target in (f"http://evil.com{path}", f"http://127.0.0.1:{proxy.port}{path}", "*"):
            answer = await exchange(port_of(proxy), (
                f"GET {target} HTTP/1.1\r\nHost: evil.com\r\nAuthorization: Bearer {TOKEN}\r\n"
                "User-Agent: t\r\nConnection: close\r\n\r\n").encode())
            assert answer.split(b" ", 2)[1] == b"400", answer[:200]
            assert b"origin-form" in answer or target == "*"  # "*": refused by the parser
        assert hits == []
    finally:
        await runner.cleanup()


async def test_control_characters_never_forge_a_text_log_line(bff: ServiceProcess) -> None:
    # Item 4: %0d%0a in the path used to start a line of its own in LOG_FORMAT=text.
    forged = "2026-01-01 00:00:00,000 bff_book INFO access: GET /admin 200 forged"
    target = "/books/x%0d%0a" + forged.replace(" ", "%20") + "%1b[31m"
    await exchange(port_of(bff), f"GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                   .encode())
    await asyncio.sleep(0.6)  # the access log is flushed every 0.25 s
    lines = bff.log().splitlines()
    assert not any(line.startswith("2026-01-01") for line in lines)
    assert not any("\x1b" in line for line in lines)
    [access] = [line for line in lines if "GET /books/x" in line]
    assert "\\x0d\\x0a2026-01-01" in access and access.rstrip().endswith("]")


async def test_slowloris_is_cut_off_and_normal_clients_are_served(bff: ServiceProcess) -> None:
    # Item 5: 40 sockets sending one header byte every 0.2 s (HEADER_TIMEOUT_S=1), while a
    # normal client keeps asking; then 70 idle sockets against MAX_CONNECTIONS=60.
    slow = [socket.create_connection(("127.0.0.1", bff.port)) for _ in range(40)]
    request = b"GET /status HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 100

    async def trickle(sock: socket.socket) -> float:
        started = time.monotonic()
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        for byte in request:
            try:
                await loop.sock_sendall(sock, bytes([byte]))
                await asyncio.sleep(0.2)
            except OSError:
                break
        return time.monotonic() - started

    normal_ok = 0
    async with aiohttp.ClientSession() as session:
        trickling = [asyncio.create_task(trickle(sock)) for sock in slow]
        for _ in range(10):
            async with session.get(f"{bff.url}/status", headers={"Connection": "close"}) as r:
                normal_ok += r.status == 200
            await asyncio.sleep(0.2)
        held = await asyncio.gather(*trickling)
    for sock in slow:
        sock.close()
    print(f"\n[slowloris] 40 sockets: held {max(held):.1f} s at most (HEADER_TIMEOUT_S=1), "
          f"normal requests served {normal_ok}/10")
    assert max(held) < 3.0 and normal_ok == 10

    idle = [socket.create_connection(("127.0.0.1", bff.port)) for _ in range(70)]
    await asyncio.sleep(0.3)
    refused = 0
    for sock in idle:
        sock.settimeout(0.05)
        with contextlib.suppress(OSError):
            refused += sock.recv(64).startswith(b"HTTP/1.1 503")
        sock.close()
    print(f"[connection cap] 70 idle sockets, MAX_CONNECTIONS=60: {refused} answered 503 at once")
    assert refused >= 10


async def test_malformed_http_is_one_info_line_counted_no_traceback(bff: ServiceProcess) -> None:
    # Item 8: 20 malformed requests; before, each was an ERROR with a full traceback.
    bad = [b"GARBAGE\x01 / HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
           b"GET /status HTTP/1.1\r\nBad Header\r\n\r\n",
           b"GET /status HTTP/1.1\r\nHost: a\r\nX: " + b"y" * 20000 + b"\r\n\r\n"]
    for raw in bad * 5:
        answer = await exchange(port_of(bff), raw)
        assert answer.split(b" ", 2)[1].startswith(b"4"), answer[:100]
        assert b"application/json" in answer
    await asyncio.sleep(0.3)
    log = bff.log()
    assert "Traceback" not in log and " ERROR " not in log
    assert log.count("malformed HTTP request from") == 20
    async with aiohttp.ClientSession() as session, session.get(f"{bff.url}/metrics") as r:
        metrics = await r.text()
    counted = sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("http_malformed_requests_total{"))
    assert counted == 20


async def test_no_version_banner_anywhere(bff: ServiceProcess) -> None:
    # Item 9: no Server: Python/x aiohttp/y, on normal, error and protocol-error answers.
    async with aiohttp.ClientSession() as session:
        for path in ("/status", "/books/x", "/metrics"):
            async with session.get(f"{bff.url}{path}") as response:
                assert response.headers["Server"] == "bookstore"
                if path == "/metrics":
                    assert "python_info" not in await response.text()
    malformed = await exchange(port_of(bff), b"GARBAGE\x01 / HTTP/1.1\r\n\r\n")
    assert b"Server: bookstore\r\n" in malformed and b"aiohttp" not in malformed


async def test_expect_100_continue_over_the_limit_is_413_at_once(bff: ServiceProcess) -> None:
    # Item 11: before, "100 Continue" then 408 after the body timeout.
    started = time.monotonic()
    answer = await exchange(port_of(bff), (
        f"POST /books HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 10000000\r\n"
        "Expect: 100-continue\r\n\r\n").encode())
    elapsed = time.monotonic() - started
    print(f"\n[expect] 10 MB announced with Expect: 100-continue: "
          f"{answer.split(b' ', 2)[1].decode()} in {elapsed * 1000:.0f} ms")
    assert answer.startswith(b"HTTP/1.1 413") and b"100 Continue" not in answer
    assert elapsed < 1.0
    # Within the limit the body is still invited.
    reader, writer = await asyncio.open_connection("127.0.0.1", bff.port)
    writer.write((f"POST /books HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {TOKEN}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 2\r\n"
                  "Expect: 100-continue\r\n\r\n").encode())
    async with asyncio.timeout(2):
        first = await reader.readline()
    writer.close()
    assert first.startswith(b"HTTP/1.1 100 Continue")


@pytest.fixture
async def slow_upstream() -> AsyncIterator[tuple[int, web.AppRunner]]:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2.0)  # slower than the BFF's 1.5 s readiness probe
        return web.json_response({"message": "slow"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port, runner
    await runner.cleanup()


@pytest.mark.slow
async def test_ready_stays_200_under_1000_connections_and_503_when_upstream_is_down(
    slow_upstream: tuple[int, web.AppRunner], service_process: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:
    # Item 6: readiness = "this process can serve": slow upstream -> ready; refused -> not.
    port, runner = slow_upstream
    proxy = service_process("bff_book", {
        "JWT_SECRET": SECRET, "BOOK_SERVICE_URL": f"http://127.0.0.1:{port}",
        "ACCESS_LOG": "false", "UPSTREAM_TIMEOUT_S": "5"})
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": "load"}
    connector = aiohttp.TCPConnector(limit=0)
    statuses: list[int] = []
    async with aiohttp.ClientSession(connector=connector) as load, aiohttp.ClientSession() as probe:
        async def one() -> None:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with load.get(f"{proxy.url}/books/x", headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=15)) as r:
                    await r.read()

        flood = [asyncio.create_task(one()) for _ in range(1000)]
        await asyncio.sleep(1.0)
        for _ in range(3):
            async with probe.get(f"{proxy.url}/ready",
                                 timeout=aiohttp.ClientTimeout(total=10)) as r:
                statuses.append(r.status)
        await asyncio.gather(*flood)
        print(f"\n[ready under load] 1,000 connections to a BFF whose upstream takes 2 s: "
              f"/ready {statuses}")
        assert statuses == [200, 200, 200]

        await runner.cleanup()  # the upstream goes away: connection refused
        async with probe.get(f"{proxy.url}/ready") as r:
            down = r.status
            body = await r.text()
        print(f"[ready] upstream down: /ready {down} {body}")
        assert down == 503 and "unreachable" in body
