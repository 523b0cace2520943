"""Requests external course suites send, through both hops (BFF in front of the real service):
a JSON body without a Content-Type, an unencoded `+` in `?userId=`, and HEAD on every GET."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import bff_book.app
import bff_book.settings
import bff_customer.app
import bff_customer.settings
import svc_book.app
import svc_book.settings
import svc_customer.app
import svc_customer.settings
from tests.builders import MOBILE_UA, SECRET, book, customer, headers

Client = TestClient[web.Request, web.Application]
Hops = tuple[Client, Client]  # (BFF, service)


@pytest.fixture
async def book_hops(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> Hops:
    service = svc_book.app.create_app(svc_book.settings.Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/books.db", migrate_on_start="true",
        breaker_state_file=str(tmp_path / "breaker.json"), access_log=False,
        recommender_url="http://127.0.0.1:9"))
    server: TestServer = await aiohttp_server(service)
    bff = bff_book.app.create_app(bff_book.settings.Settings(
        book_service_url=str(server.make_url("")), jwt_secret=SECRET, access_log=False))
    return await aiohttp_client(bff), await aiohttp_client(server)


@pytest.fixture
async def customer_hops(aiohttp_client: Any, aiohttp_server: Any, tmp_path: Path) -> Hops:
    service = svc_customer.app.create_app(svc_customer.settings.Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/customers.db", migrate_on_start="true",
        access_log=False, kafka_bootstrap_servers="127.0.0.1:9"))
    server: TestServer = await aiohttp_server(service)
    bff = bff_customer.app.create_app(bff_customer.settings.Settings(
        customer_service_url=str(server.make_url("")), jwt_secret=SECRET, access_log=False))
    return await aiohttp_client(bff), await aiohttp_client(server)


def _auth_for(client: Client, bff: Client) -> dict[str, str]:
    return headers() if client is bff else {}


async def test_a_json_body_without_content_type_is_accepted_on_both_hops(book_hops: Hops) -> None:
    bff, service = book_hops
    for number, client in enumerate((service, bff)):
        body = orjson.dumps(book(f"no-ctype-{number}"))
        response = await client.post("/books", data=body, headers=_auth_for(client, bff),
                                     skip_auto_headers=["Content-Type"])
        assert response.status == 201, await response.text()
        assert (await response.json())["ISBN"] == f"no-ctype-{number}"
        changed = orjson.dumps(book(f"no-ctype-{number}", quantity=1))
        response = await client.put(f"/books/no-ctype-{number}", data=changed,
                                    headers=_auth_for(client, bff),
                                    skip_auto_headers=["Content-Type"])
        assert response.status == 200, await response.text()
        assert (await response.json())["quantity"] == 1


async def test_a_declared_non_json_type_is_415_on_both_hops(book_hops: Hops) -> None:
    bff, service = book_hops
    for client in (service, bff):
        for content_type in ("text/plain", "application/x-www-form-urlencoded",
                             "application/octet-stream"):
            response = await client.post(
                "/books", data=orjson.dumps(book("typed")),
                headers={**_auth_for(client, bff), "Content-Type": content_type})
            assert response.status == 415, (client is bff, content_type)
            assert (await response.json())["message"]
    listing = await (await bff.get("/books", headers=headers())).json()
    assert listing["items"] == []  # nothing was written


async def test_customer_body_without_content_type_through_the_bff(customer_hops: Hops) -> None:
    bff, _ = customer_hops
    response = await bff.post("/customers", data=orjson.dumps(customer()), headers=headers(),
                              skip_auto_headers=["Content-Type"])
    assert response.status == 201, await response.text()


async def test_an_unencoded_plus_in_user_id_is_a_plus(customer_hops: Hops) -> None:
    bff, service = customer_hops
    created = await service.post("/customers", json=customer("star+lord@example.org"))
    assert created.status == 201
    stored = await created.json()
    for client in (service, bff):
        auth = _auth_for(client, bff)
        for query in ("userId=star+lord@example.org", "userId=star%2Blord@example.org",
                      "userId=star%2blord%40example.org"):
            response = await client.get(f"/customers?{query}", headers=auth)
            assert response.status == 200, (query, await response.text())
            assert await response.json() == stored
        # A real space is still no e-mail address, and a missing parameter is still a 400.
        assert (await client.get("/customers?userId=star%20lord@example.org",
                                 headers=auth)).status == 400
        assert (await client.get("/customers", headers=auth)).status == 400
        # Not UTF-8: read as U+FFFD, a clean 4xx.
        assert (await client.get("/customers?userId=%ff@example.org",
                                 headers=auth)).status in (400, 404)
        missing = await client.get("/customers?userId=nobody+x@example.org", headers=auth)
        assert missing.status == 404
        assert "nobody+x@example.org" in (await missing.json())["message"]


async def _assert_head_matches_get(client: Client, path: str, auth: dict[str, str]) -> None:
    got = await client.get(path, headers=auth)
    body = await got.read()
    head = await client.head(path, headers=auth)
    assert head.status == got.status, path
    assert await head.read() == b"", path
    assert head.headers.get("Content-Type") == got.headers.get("Content-Type"), path
    if path != "/metrics":  # the GET itself changed the counters
        assert int(head.headers.get("Content-Length", "0")) == len(body), path


async def test_head_is_answered_on_every_get_route(book_hops: Hops, customer_hops: Hops) -> None:
    book_bff, book_service = book_hops
    customer_bff, customer_service = customer_hops
    assert (await book_service.post("/books", json=book())).status == 201
    created = await customer_service.post("/customers", json=customer())
    customer_id = (await created.json())["id"]
    book_paths = ["/books", "/books/978-0321815736", "/books/isbn/978-0321815736",
                  "/books/unknown", "/status", "/ready", "/metrics", "/openapi.json", "/docs"]
    customer_paths = [f"/customers/{customer_id}", "/customers?userId=starlord2002@gmail.com",
                      "/customers/999", "/status", "/ready", "/metrics", "/openapi.json"]
    for bff, service, paths in ((book_bff, book_service, book_paths),
                                (customer_bff, customer_service, customer_paths)):
        for path in paths:
            await _assert_head_matches_get(service, path, {})
            await _assert_head_matches_get(bff, path, headers())
            await _assert_head_matches_get(bff, path, headers(ua=MOBILE_UA))
    # The BFF answers HEAD like GET: token first, then User-Agent.
    assert (await book_bff.head("/books/978-0321815736")).status == 401
    assert (await book_bff.head("/books/978-0321815736", headers=headers(ua=None),
                                skip_auto_headers=["User-Agent"])).status == 400
