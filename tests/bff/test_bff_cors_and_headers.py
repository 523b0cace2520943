"""CORS (CORS_ALLOW_ORIGINS) and the BFFs' response headers, over HTTP.

A real browser (headless Chromium) checks the same in test_bff_cors_browser.
"""

from __future__ import annotations

import pytest

from tests.bff.support import BOOK_BFF, CUSTOMER_BFF, Bff, MakeClient
from tests.bff.upstream import BOOK, CUSTOMER, FakeService
from tests.builders import DESKTOP_UA, headers

SHOP = "https://shop.example.com"


def script(upstream: FakeService) -> None:
    upstream.answer("GET", "/books/978-0321815736", json=BOOK)
    upstream.answer("GET", "/customers/7", json=CUSTOMER)


def preflight(origin: str = SHOP, method: str = "GET", request_headers: str = "authorization") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": request_headers,
        "User-Agent": DESKTOP_UA,
    }


async def test_preflight_is_answered_without_a_token(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    client = await make_client(bff, cors_allow_origins=f"{SHOP}, http://localhost:5173")

    response = await client.options(bff.get_path, headers=preflight())

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "AUTHORIZATION" in response.headers["Access-Control-Allow-Headers"].upper()
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]
    assert upstream.seen == []


async def test_preflight_allows_the_w3c_trace_context(
    bff: Bff, make_client: MakeClient
) -> None:
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.options(
        bff.get_path, headers=preflight(request_headers="traceparent, tracestate"))
    assert response.status == 200
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "traceparent" in allowed and "tracestate" in allowed


async def test_preflight_for_a_write_with_json_body(
    bff: Bff, make_client: MakeClient
) -> None:
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.options(
        bff.get_path, headers=preflight(method="PUT", request_headers="authorization,content-type")
    )
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Methods"] == "PUT"


async def test_preflight_from_another_origin_is_refused(
    bff: Bff, make_client: MakeClient
) -> None:
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.options(bff.get_path, headers=preflight(origin="https://evil.example"))
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_preflight_for_a_method_the_route_lacks_is_refused(
    make_client: MakeClient,
) -> None:
    client = await make_client(BOOK_BFF, cors_allow_origins=SHOP)
    response = await client.options("/books", headers=preflight(method="DELETE"))
    assert response.status == 403


async def test_actual_request_gets_allow_origin_and_exposed_headers(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.get(bff.get_path, headers=headers(Origin=SHOP))
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    exposed = response.headers["Access-Control-Expose-Headers"].split(",")
    for name in ("Location", "Retry-After", "RateLimit", "RateLimit-Policy", "X-Request-ID"):
        assert name in exposed
    assert "Origin" in response.headers["Vary"]


async def test_errors_carry_cors_headers_so_a_page_can_read_them(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, cors_allow_origins=SHOP, rate_limit_reads="1/minute")
    no_token = await client.get(bff.get_path, headers={"Origin": SHOP, "User-Agent": DESKTOP_UA})
    limited = await client.get(bff.get_path, headers=headers(Origin=SHOP))
    assert (no_token.status, limited.status) == (401, 429)
    for response in (no_token, limited):
        assert response.headers["Access-Control-Allow-Origin"] == SHOP


async def test_wildcard_allows_any_origin(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff, cors_allow_origins="*")
    response = await client.options(bff.get_path, headers=preflight(origin="http://127.0.0.1:9"))
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "http://127.0.0.1:9")


async def test_no_cors_by_default(bff: Bff, make_client: MakeClient, upstream: FakeService) -> None:
    script(upstream)
    client = await make_client(bff)
    response = await client.options(bff.get_path, headers=preflight())
    actual = await client.get(bff.get_path, headers=headers(Origin=SHOP))
    assert response.status == 401  # as before: no token
    assert actual.status == 200
    for each in (response, actual):
        assert not [name for name in each.headers if name.lower().startswith("access-control-")]


async def test_options_without_preflight_headers_still_needs_a_token(
    bff: Bff, make_client: MakeClient
) -> None:
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.options(bff.get_path, headers={"User-Agent": DESKTOP_UA})
    assert response.status == 401


@pytest.mark.parametrize("path", ["/status", "/metrics"])
async def test_operational_routes_have_no_cors(
    bff: Bff, make_client: MakeClient, path: str
) -> None:
    client = await make_client(bff, cors_allow_origins=SHOP)
    response = await client.get(path, headers={"Origin": SHOP})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


# --- response headers -----------------------------------------------------------------------


async def test_every_answer_says_nosniff(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff)
    answers = [
        await client.get(bff.get_path, headers=headers()),
        await client.get(bff.get_path),  # 401
        await client.get("/nowhere", headers=headers()),  # 404
        await client.get("/status"),
    ]
    assert [a.status for a in answers] == [200, 401, 404, 200]
    for answer in answers:
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


async def test_customer_data_is_never_stored(
    make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    upstream.answer("GET", "/customers", json=CUSTOMER)
    client = await make_client(CUSTOMER_BFF)
    for path in ("/customers/7", "/customers?userId=starlord%2B2@gmail.com", "/customers/404"):
        response = await client.get(path, headers=headers())
        assert response.headers["Cache-Control"] == "no-store", path
    unauthorized = await client.get("/customers/7")
    assert unauthorized.headers["Cache-Control"] == "no-store"


async def test_book_answers_keep_their_own_caching(
    make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(BOOK_BFF)
    response = await client.get(BOOK_BFF.get_path, headers=headers())
    assert response.status == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")

