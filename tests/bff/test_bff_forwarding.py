"""Forwarding through the BFFs to a real upstream on loopback: faults, headers, Location."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from yarl import URL

from libcommon.docs_page import DOCS_PATH, DOCS_PATHS
from tests.bff.support import BOOK_BFF, CUSTOMER_BFF, Bff, MakeClient
from tests.bff.upstream import BOOK, CUSTOMER, FakeService
from tests.builders import headers
from tests.fixtures.procs import free_port


def encoded(client: Any, path_qs: str) -> URL:
    """An absolute URL sent exactly as written (the test client would requote a str)."""
    return URL(f"http://127.0.0.1:{client.port}{path_qs}", encoded=True)


def error_body_ok(body: object) -> bool:
    return isinstance(body, dict) and set(body) == {"message"} and bool(body["message"])


async def test_upstream_down_is_502(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff, upstream_url=f"http://127.0.0.1:{free_port()}")
    response = await client.get(bff.get_path, headers=headers())
    assert response.status == 502
    assert error_body_ok(await response.json())


async def test_upstream_down_makes_ready_503(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff, upstream_url=f"http://127.0.0.1:{free_port()}")
    response = await client.get("/ready")
    assert response.status == 503
    body = await response.json()
    assert body["status"] == "unavailable"
    assert body["checks"][f"{bff.name}_service"] != "ok"


async def test_ready_when_upstream_answers(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff)
    response = await client.get("/ready")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "checks": {f"{bff.name}_service": "ok"}}


async def test_slow_upstream_is_504_within_the_timeout(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", bff.get_path, json={}, delay_s=3)
    client = await make_client(bff, upstream_timeout_s=0.3)
    started = time.monotonic()
    response = await client.get(bff.get_path, headers=headers())
    assert response.status == 504
    assert error_body_ok(await response.json())
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (500, "text/html", b"<html><body>Internal Server Error</body></html>"),
        (200, "text/plain", b"OK but not JSON"),
        (502, None, b"bad gateway from a proxy"),
    ],
)
async def test_non_json_upstream_body_is_502_json(
    bff: Bff, make_client: MakeClient, upstream: FakeService,
    status: int, content_type: str | None, body: bytes,
) -> None:
    upstream.answer("GET", bff.get_path, status, body=body, content_type=content_type)
    client = await make_client(bff)
    response = await client.get(bff.get_path, headers=headers())
    assert response.status == 502
    assert response.headers["Content-Type"].startswith("application/json")
    text = await response.text()
    assert error_body_ok(await response.json()) and "html" not in text.lower()


async def test_mobile_shaping_of_json_typed_garbage_is_502(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", "/books/1", body=b"{not json")
    client = await make_client(BOOK_BFF)
    response = await client.get("/books/1", headers=headers(ua="Mobile"))
    assert response.status == 502


async def test_upstream_json_errors_and_retry_after_are_relayed(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer(
        "GET", "/books/1/related-books", 503, json={"message": "Circuit open."},
        headers={"Retry-After": "42"},
    )
    upstream.answer("GET", "/books/2", 500, json={"message": "Internal server error."})
    client = await make_client(BOOK_BFF)

    response = await client.get("/books/1/related-books", headers=headers())
    assert response.status == 503
    assert await response.json() == {"message": "Circuit open."}
    assert response.headers["Retry-After"] == "42"

    response = await client.get("/books/2", headers=headers())
    assert response.status == 500
    assert await response.json() == {"message": "Internal server error."}


@pytest.fixture
async def slamming_server() -> AsyncIterator[int]:
    """Accepts connections and closes them at once, without answering."""

    async def slam(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(slam, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


async def test_upstream_closing_the_connection_is_502(
    make_client: MakeClient, slamming_server: int
) -> None:
    client = await make_client(BOOK_BFF, upstream_url=f"http://127.0.0.1:{slamming_server}")
    response = await client.get("/books/1", headers=headers())
    assert response.status == 502


# --- Location ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bff", "path", "upstream_location", "created"),
    [
        (BOOK_BFF, "/books", "/books/978-0321815736", BOOK),
        (CUSTOMER_BFF, "/customers", "/customers/7", CUSTOMER),
    ],
    ids=["book", "customer"],
)
@pytest.mark.parametrize(
    ("forwarded", "expected_base"),
    [
        ({}, None),
        ({"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"},
         "https://api.example.com"),
        ({"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "shop.example:8443, lb"},
         "https://shop.example:8443"),
        ({"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "evil/path"}, None),
    ],
    ids=["request host", "forwarded", "forwarded lists", "invalid forwarded ignored"],
)
async def test_location_points_at_the_bff(
    make_client: MakeClient, upstream: FakeService, bff: Bff, path: str,
    upstream_location: str, created: dict[str, object],
    forwarded: dict[str, str], expected_base: str | None,
) -> None:
    upstream.answer(
        "POST", path, 201, json=created,
        headers={"Location": upstream.base_url + upstream_location},
    )
    client = await make_client(bff)
    response = await client.post(path, json=created, headers=headers(**forwarded))
    assert response.status == 201
    base = expected_base or f"http://127.0.0.1:{client.port}"
    assert response.headers["Location"] == base + upstream_location


async def test_relative_location_and_upstream_path_prefix(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer(
        "POST", "/api/books", 201, json=BOOK, headers={"Location": "/api/books/a%2Fb?x=1"}
    )
    client = await make_client(BOOK_BFF, upstream_url=upstream.base_url + "/api/")
    response = await client.post("/books", json=BOOK, headers=headers())
    assert response.status == 201
    assert upstream.seen[0].raw_path == "/api/books"
    assert response.headers["Location"] == f"http://127.0.0.1:{client.port}/books/a%2Fb?x=1"


# --- what is forwarded ---------------------------------------------------------------------


async def test_request_id_is_created_forwarded_and_returned(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", bff.get_path, json={})
    client = await make_client(bff)

    response = await client.get(bff.get_path, headers=headers())
    created = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", created)
    assert upstream.seen[-1].headers["X-Request-ID"] == created

    response = await client.get(bff.get_path, headers=headers(**{"X-Request-ID": "abc-123"}))
    assert response.headers["X-Request-ID"] == "abc-123"
    assert upstream.seen[-1].headers["X-Request-ID"] == "abc-123"


async def test_request_id_on_errors_made_by_the_bff(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff)
    response = await client.get(bff.get_path, headers={"X-Request-ID": "rid-401"})
    assert response.status == 401
    assert response.headers["X-Request-ID"] == "rid-401"


async def test_only_whitelisted_headers_go_upstream(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", bff.get_path, json={})
    client = await make_client(bff)
    sent = headers(
        ua="Agent/1.0 Mobile",
        Cookie="session=1",
        **{"Proxy-Authorization": "Basic eA==", "X-Forwarded-For": "10.0.0.1",
           "Keep-Alive": "timeout=5", "TE": "trailers", "Upgrade": "h2c",
           "Accept": "application/json"},
    )
    await client.get(bff.get_path, headers=sent)
    got = {name.lower(): value for name, value in upstream.seen[0].headers.items()}
    for name in ("authorization", "proxy-authorization", "cookie", "keep-alive", "te",
                 "upgrade", "x-forwarded-for"):
        assert name not in got, name
    assert got["user-agent"] == "Agent/1.0 Mobile"
    assert got["accept"] == "application/json"
    assert got["host"] == upstream.base_url.removeprefix("http://")


async def test_w3c_trace_context_is_forwarded_by_an_untraced_bff(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    """Tracing off at the BFF (no OTEL endpoint): the client's trace still reaches the service."""
    upstream.answer("GET", bff.get_path, json={})
    client = await make_client(bff)
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    await client.get(bff.get_path, headers=headers(traceparent=parent, tracestate="vendor=1"))
    got = {name.lower(): value for name, value in upstream.seen[0].headers.items()}
    assert got["traceparent"] == parent
    assert got["tracestate"] == "vendor=1"


@pytest.mark.parametrize(
    "query",
    ["userId=star%2Blord%40example.org", "userId=star+lord@example.org", "userId=a%20b&x=%2F"],
)
async def test_raw_query_is_forwarded_intact(
    make_client: MakeClient, upstream: FakeService, query: str
) -> None:
    upstream.answer("GET", "/customers", json=CUSTOMER)
    client = await make_client(CUSTOMER_BFF)
    async with client.session.get(
        encoded(client, f"/customers?{query}"), headers=headers()
    ) as response:
        assert response.status == 200
    assert upstream.seen[0].raw_path == f"/customers?{query}"


async def test_book_list_query_is_forwarded(make_client: MakeClient, upstream: FakeService) -> None:
    upstream.answer("GET", "/books", json={"items": [], "next": None})
    client = await make_client(BOOK_BFF)
    query = "limit=5&cursor=eyJrIjoiMSJ9&q=Clean%20Code&author=Bass%2C%20L.&genre=non-fiction"
    async with client.session.get(encoded(client, f"/books?{query}"), headers=headers()) as r:
        assert r.status == 200
    assert upstream.seen[0].raw_path == f"/books?{query}"


async def test_body_is_forwarded_as_is(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    path = "/books" if bff is BOOK_BFF else "/customers"
    upstream.answer("POST", path, 400, json={"message": "Request body is not valid JSON."})
    client = await make_client(bff)
    raw = b'{"ISBN": "1", "title": "caf\xc3\xa9", broken'
    response = await client.post(
        path, data=raw, headers=headers(**{"Content-Type": "application/json"})
    )
    assert response.status == 400
    assert upstream.seen[0].body == raw
    assert upstream.seen[0].headers["Content-Type"] == "application/json"


async def test_body_over_the_limit_is_413_at_the_bff(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    path = "/books" if bff is BOOK_BFF else "/customers"
    client = await make_client(bff, max_body_bytes=2048)
    response = await client.post(
        path, data=b'{"x": "' + b"a" * 4096 + b'"}',
        headers=headers(**{"Content-Type": "application/json"}),
    )
    assert response.status == 413
    assert error_body_ok(await response.json())
    assert upstream.seen == []


async def test_connections_to_upstream_are_pooled(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", "/books/1", json=BOOK)
    client = await make_client(BOOK_BFF)
    for _ in range(5):
        response = await client.get("/books/1", headers=headers())
        assert response.status == 200
    assert len({seen.peer_port for seen in upstream.seen}) == 1


async def test_concurrent_requests_all_relayed(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("GET", "/books/1", json=BOOK, delay_s=0.1)
    client = await make_client(BOOK_BFF)
    started = time.monotonic()
    responses = await asyncio.gather(
        *(client.get("/books/1", headers=headers()) for _ in range(30))
    )
    assert [r.status for r in responses] == [200] * 30
    assert time.monotonic() - started < 2  # in parallel, not one after another


async def test_openapi_documents_every_route(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff)
    document = await (await client.get("/openapi.json", headers=headers())).json()
    app = client.app
    assert app is not None
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "put", "delete"}
    }
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        # The docs page's assets are files of the page, not operations (`/docs` is one).
        if route.method in {"GET", "POST", "PUT", "DELETE"} and path and (
            path == DOCS_PATH or path not in DOCS_PATHS
        ):
            served.add((route.method, re.sub(r"\{\w+\}", "{p}", path)))
    normalized = {(m, re.sub(r"\{\w+\}", "{p}", p)) for m, p in documented}
    assert normalized == served
    assert document["components"]["securitySchemes"]["bearerJWT"]["scheme"] == "bearer"
