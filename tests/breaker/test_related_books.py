"""GET /books/{ISBN}/related-books status codes, against the real reference engine.

The route here is a minimal stand-in for svc_book's (same use case, same error middleware);
a stub engine is used only for answers the real one cannot give (5xx, malformed bodies).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from libcommon.breaker import STATE_CLOSED, STATE_OPEN, AsyncCircuitBreaker
from libcommon.clock import ManualClock
from libcommon.jsonio import json_response
from libcommon.settings import ServiceSettings
from libcommon.web import create_base_app
from recommender.app import create_app as create_engine
from recommender.settings import Settings as EngineSettings
from svc_book.related import (
    RELATED_BOOKS_KEY,
    EngineError,
    RecommendationClient,
    RelatedBooks,
    build_related_books,
    parse_titles,
    related_books_ctx,
)
from tests.fixtures.procs import free_port

TIMEOUT_S = 0.2
RESET_S = 60.0
RELATED = "/books/{}/related-books"


@dataclass
class BreakerSettings:
    recommender_url: str
    breaker_state_file: str
    recommender_timeout_s: float = TIMEOUT_S
    breaker_reset_s: float = RESET_S


class Engine:
    """The real engine on a loopback port, counting recommendation requests."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.calls = 0

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def set_delay(self, ms: int) -> None:
        async with aiohttp.ClientSession() as session, session.put(
            f"{self.url}/delay", json={"ms": ms}
        ) as response:
            assert response.status == 200


@pytest.fixture
async def engine():
    app = create_engine(EngineSettings(access_log=False))
    holder: list[Engine] = []

    @web.middleware
    async def count(request, handler):
        if request.path.startswith("/recommended-titles/"):
            holder[0].calls += 1
        return await handler(request)

    app.middlewares.append(count)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    holder.append(Engine(server))
    yield holder[0]
    await server.close()


class Stub:
    """An engine that answers whatever the test sets (status, body)."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b"[]"
        self.calls = 0
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        return web.Response(status=self.status, body=self.body,
                            content_type="application/json")


@pytest.fixture
async def stub():
    stub = Stub()
    app = web.Application()
    app.router.add_get("/recommended-titles/isbn/{isbn}", stub.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    stub.url = str(server.make_url("")).rstrip("/")
    yield stub
    await server.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def book_app(settings: BreakerSettings, clock: ManualClock) -> web.Application:
    app = create_base_app(ServiceSettings(access_log=False), name="svc_book_related_test")
    app.cleanup_ctx.append(related_books_ctx(settings, clock))

    async def related(request: web.Request) -> web.Response:
        items = await request.app[RELATED_BOOKS_KEY].fetch(request.match_info["isbn"])
        if not items:
            return web.Response(status=204)
        return json_response(items)

    app.router.add_get("/books/{isbn}/related-books", related)
    return app


@pytest.fixture
def make_client(aiohttp_client, clock, tmp_path):
    async def make(url: str, state_file: Path | None = None, **overrides):
        settings = BreakerSettings(
            recommender_url=url,
            breaker_state_file=str(state_file or tmp_path / "breaker.json"),
            **overrides,
        )
        return await aiohttp_client(book_app(settings, clock))

    return make


def breaker_of(client: TestClient[web.Request, web.Application]) -> AsyncCircuitBreaker:
    app = client.app
    assert app is not None
    return app[RELATED_BOOKS_KEY].breaker


async def assert_error(response, status: int) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert set(body) == {"message"} and body["message"]
    return body


async def test_closed_success_maps_items(make_client, engine):
    client = await make_client(engine.url)
    response = await client.get(RELATED.format("978-0321815736"))
    assert response.status == 200
    items = await response.json()
    async with aiohttp.ClientSession() as session, session.get(
        f"{engine.url}/recommended-titles/isbn/978-0321815736"
    ) as raw:
        expected = [{"ISBN": i["isbn"], "title": i["title"], "Author": i["authors"]}
                    for i in await raw.json()]
    assert items == expected
    assert breaker_of(client).state == STATE_CLOSED


async def test_closed_no_recommendations_is_204_with_empty_body(make_client, engine):
    client = await make_client(engine.url)
    response = await client.get(RELATED.format("9780000000002"))
    assert response.status == 204
    assert await response.read() == b""


async def test_empty_engine_list_is_204(make_client, stub):
    stub.body = b"[]"
    client = await make_client(stub.url)
    response = await client.get(RELATED.format("123"))
    assert response.status == 204
    assert breaker_of(client).state == STATE_CLOSED


async def test_closed_timeout_is_504_then_open_is_503_without_calling(make_client, engine):
    client = await make_client(engine.url)
    await engine.set_delay(1000)
    started = time.perf_counter()
    await assert_error(await client.get(RELATED.format("978-0321815736")), 504)
    assert time.perf_counter() - started < 0.9
    assert breaker_of(client).state == STATE_OPEN
    await engine.set_delay(0)
    calls = engine.calls
    response = await client.get(RELATED.format("978-0321815736"))
    await assert_error(response, 503)
    assert 1 <= int(response.headers["Retry-After"]) <= RESET_S
    assert engine.calls == calls


async def test_connection_refused_is_502_and_opens(make_client):
    client = await make_client(f"http://127.0.0.1:{free_port()}")
    await assert_error(await client.get(RELATED.format("978-0321815736")), 502)
    assert breaker_of(client).state == STATE_OPEN
    await assert_error(await client.get(RELATED.format("978-0321815736")), 503)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, b'{"message": "boom"}'),
        (503, b""),
        (200, b"not json"),
        (200, b""),
        (200, b'{"isbn": "1", "title": "t", "authors": "a", "publisher": "p"}'),
        (200, b'["x"]'),
        (200, b'[{"isbn": "1", "authors": "a", "publisher": "p"}]'),
        (200, b'[{"isbn": "1", "title": "", "authors": "a", "publisher": "p"}]'),
        (200, b'[{"isbn": 1, "title": "t", "authors": "a", "publisher": "p"}]'),
        (200, b'[{"isbn": "1", "title": "t", "authors": 7, "publisher": "p"}]'),
        (201, b"[]"),
        (302, b""),
    ],
)
async def test_engine_failures_are_502_and_open(make_client, stub, status, body):
    stub.status, stub.body = status, body
    client = await make_client(stub.url)
    await assert_error(await client.get(RELATED.format("123")), 502)
    assert breaker_of(client).state == STATE_OPEN
    calls = stub.calls
    await assert_error(await client.get(RELATED.format("123")), 503)
    assert stub.calls == calls


async def test_engine_4xx_is_502_but_does_not_open(make_client, stub):
    stub.status, stub.body = 404, b'{"message": "no"}'
    client = await make_client(stub.url)
    await assert_error(await client.get(RELATED.format("123")), 502)
    assert breaker_of(client).state == STATE_CLOSED


async def test_window_then_probe_success_closes(make_client, engine, clock):
    client = await make_client(engine.url)
    await engine.set_delay(1000)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 504)
    await engine.set_delay(0)
    calls = engine.calls
    clock.advance(RESET_S - 0.5)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 503)
    assert engine.calls == calls
    clock.advance(0.5)
    response = await client.get(RELATED.format("978-0321815736"))
    assert response.status == 200
    assert engine.calls == calls + 1
    assert breaker_of(client).state == STATE_CLOSED
    assert (await client.get(RELATED.format("9780000000002"))).status == 204


async def test_probe_timeout_is_503_and_starts_a_new_window(make_client, engine, clock):
    client = await make_client(engine.url)
    await engine.set_delay(1000)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 504)
    clock.advance(RESET_S + 1)
    response = await client.get(RELATED.format("978-0321815736"))
    await assert_error(response, 503)
    assert int(response.headers["Retry-After"]) == RESET_S
    assert breaker_of(client).state == STATE_OPEN
    await engine.set_delay(0)
    calls = engine.calls
    clock.advance(RESET_S - 1)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 503)
    assert engine.calls == calls
    clock.advance(1)
    assert (await client.get(RELATED.format("978-0321815736"))).status == 200


async def test_failing_probe_is_502_and_reopens(make_client, stub, clock):
    stub.status = 500
    client = await make_client(stub.url)
    await assert_error(await client.get(RELATED.format("123")), 502)
    clock.advance(RESET_S)
    await assert_error(await client.get(RELATED.format("123")), 502)
    assert stub.calls == 2
    assert breaker_of(client).state == STATE_OPEN
    await assert_error(await client.get(RELATED.format("123")), 503)
    assert stub.calls == 2


async def test_requests_during_the_probe_get_503_and_one_engine_call(make_client, engine, clock):
    client = await make_client(engine.url, recommender_timeout_s=2.0)
    await engine.set_delay(3000)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 504)
    await engine.set_delay(300)
    clock.advance(RESET_S)
    calls = engine.calls
    probe = asyncio.create_task(client.get(RELATED.format("978-0321815736")))
    while not breaker_of(client).probe_in_flight:
        await asyncio.sleep(0.005)
    others = await asyncio.gather(*(client.get(RELATED.format("978-0321815736"))
                                    for _ in range(10)))
    assert [r.status for r in others] == [503] * 10
    assert (await probe).status == 200
    assert engine.calls == calls + 1
    assert breaker_of(client).state == STATE_CLOSED


async def test_restart_keeps_the_circuit_open(make_client, engine, clock, tmp_path):
    state_file = tmp_path / "shared" / "breaker.json"
    first = await make_client(engine.url, state_file)
    await engine.set_delay(1000)
    await assert_error(await first.get(RELATED.format("978-0321815736")), 504)
    await first.close()
    await engine.set_delay(0)
    calls = engine.calls
    clock.advance(5)
    second = await make_client(engine.url, state_file)
    response = await second.get(RELATED.format("978-0321815736"))
    await assert_error(response, 503)
    assert int(response.headers["Retry-After"]) == RESET_S - 5
    assert engine.calls == calls
    clock.advance(RESET_S - 5)
    assert (await second.get(RELATED.format("978-0321815736"))).status == 200


async def test_corrupt_state_file_starts_closed(make_client, engine, tmp_path):
    state_file = tmp_path / "breaker.json"
    state_file.write_text('{"state": "open"')
    client = await make_client(engine.url, state_file)
    assert (await client.get(RELATED.format("978-0321815736"))).status == 200


async def test_cancelled_request_does_not_open_the_circuit(engine, clock, tmp_path):
    await engine.set_delay(150)
    settings = BreakerSettings(engine.url, str(tmp_path / "breaker.json"), 1.0)
    async with aiohttp.ClientSession() as session:
        related = build_related_books(session, settings, clock)
        task = asyncio.create_task(related.fetch("978-0321815736"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert related.breaker.state == STATE_CLOSED
        await engine.set_delay(0)
        assert len(await related.fetch("978-0321815736")) >= 3


async def test_isbn_is_url_quoted(stub):
    async with aiohttp.ClientSession() as session:
        client = RecommendationClient(session, stub.url + "/")
        url = client.url_for("a/b?c#d%e f")
        assert url.raw_path.endswith("/recommended-titles/isbn/a%2Fb%3Fc%23d%25e%20f")
        assert "//recommended" not in url.raw_path
        stub.body = b'[{"isbn": "1", "title": "t", "authors": ["A", "B"]}]'
        titles = await client.recommended_titles("a/b?c#d%e f")
        assert titles[0].authors == "A, B" and titles[0].publisher is None
        assert stub.calls == 1


def test_parse_titles_rejects_non_lists():
    with pytest.raises(EngineError):
        parse_titles(b'{"items": []}')
    assert parse_titles(b"[]") == []


async def test_open_circuit_answers_fast(make_client, engine):
    """Not an assertion on speed: prints the latency of a 503 while open, for the report."""
    client = await make_client(engine.url)
    await engine.set_delay(1000)
    await assert_error(await client.get(RELATED.format("978-0321815736")), 504)
    samples = []
    for _ in range(300):
        started = time.perf_counter()
        response = await client.get(RELATED.format("978-0321815736"))
        await response.read()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status == 503
    samples.sort()
    print(f"\n503 while open, 300 sequential requests: median {statistics.median(samples):.2f} ms,"
          f" p99 {samples[296]:.2f} ms, max {samples[-1]:.2f} ms")
    assert isinstance(client.app[RELATED_BOOKS_KEY], RelatedBooks)


def engine_calls(outcome: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(
        "recommender_request_duration_seconds_count", {"outcome": outcome}) or 0.0


async def test_engine_latency_is_observed_per_outcome_but_not_for_refused_calls(
    make_client, engine, stub, tmp_path
):
    before = {o: engine_calls(o) for o in ("success", "timeout", "rejected")}
    client = await make_client(engine.url)
    assert (await client.get(RELATED.format("978-0321815736"))).status == 200
    assert engine_calls("success") == before["success"] + 1

    await engine.set_delay(int(TIMEOUT_S * 1000 * 3))
    assert (await client.get(RELATED.format("978-0321815736"))).status == 504
    assert engine_calls("timeout") == before["timeout"] + 1
    assert (await client.get(RELATED.format("978-0321815736"))).status == 503  # open: refused
    assert engine_calls("timeout") == before["timeout"] + 1
    assert engine_calls("success") == before["success"] + 1

    stub.status, stub.body = 404, b"{}"
    stub_client = await make_client(stub.url, state_file=tmp_path / "stub-breaker.json")
    assert (await stub_client.get(RELATED.format("x"))).status == 502
    assert engine_calls("rejected") == before["rejected"] + 1
