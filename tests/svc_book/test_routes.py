"""Every Book service route against real MariaDB and SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from libcommon.jsonio import dumps
from tests.builders import book

Client = TestClient[Any, Any]


async def test_create_then_get_both_paths(client: Client) -> None:
    response = await client.post("/books", json=book())
    assert response.status == 201
    body = await response.json()
    assert body == book()
    assert response.headers["Location"] == f"http://{client.host}:{client.port}/books/978-0321815736"
    for path in ("/books/978-0321815736", "/books/isbn/978-0321815736"):
        got = await client.get(path)
        assert got.status == 200
        assert await got.json() == book()


async def test_location_honours_forwarded_headers(client: Client) -> None:
    response = await client.post(
        "/books", json=book("X/1".replace("/", "-")),
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"},
    )
    assert response.headers["Location"] == "https://shop.example.com/books/X-1"


async def test_price_is_always_a_number(client: Client) -> None:
    response = await client.post("/books", json=book(price="12.30", quantity=5.0))
    body = await response.json()
    assert body["price"] == 12.3 and body["quantity"] == 5
    assert (await (await client.get("/books/978-0321815736")).json())["price"] == 12.3
    await client.post("/books", json=book("int-price", price=10))
    assert (await (await client.get("/books/int-price")).json())["price"] == 10


async def test_duplicate_isbn_is_422(client: Client) -> None:
    assert (await client.post("/books", json=book())).status == 201
    response = await client.post("/books", json=book(title="Other"))
    assert response.status == 422
    assert await response.json() == {"message": "This ISBN already exists in the system."}


async def test_concurrent_posts_of_one_isbn_one_wins(client: Client) -> None:
    responses = await asyncio.gather(*(client.post("/books", json=book()) for _ in range(50)))
    statuses = sorted(r.status for r in responses)
    assert statuses.count(201) == 1
    assert statuses.count(422) == 49
    listing = await (await client.get("/books?limit=100")).json()
    assert len(listing["items"]) == 1


async def test_invalid_body_is_400_with_field_errors(client: Client) -> None:
    response = await client.post("/books", json=book(price=1.999, quantity=-1))
    assert response.status == 400
    body = await response.json()
    assert {e["field"] for e in body["errors"]} == {"price", "quantity"}
    assert "Traceback" not in str(body)


async def test_malformed_json_wrong_type_and_huge_body(client: Client) -> None:
    bad_json = await client.post("/books", data=b'{"ISBN": ', headers={"Content-Type": "application/json"})
    assert bad_json.status == 400
    assert "message" in await bad_json.json()
    not_object = await client.post("/books", json=[book()])
    assert not_object.status == 400
    wrong_type = await client.post("/books", data=b"ISBN=1", headers={"Content-Type": "text/plain"})
    assert wrong_type.status == 415
    huge = await client.post("/books", data=b"x" * (1024 * 1024 + 10),
                             headers={"Content-Type": "application/json"})
    assert huge.status == 413
    assert (await huge.json())["message"]
    empty = await client.post("/books", data=b"", headers={"Content-Type": "application/json"})
    assert empty.status == 400


async def test_sql_injection_strings_are_stored_verbatim(client: Client) -> None:
    evil = "Robert'); DROP TABLE books;--"
    response = await client.post("/books", json=book("inj-1", title=evil, Author="x' OR '1'='1"))
    assert response.status == 201
    stored = await (await client.get("/books/inj-1")).json()
    assert stored["title"] == evil and stored["Author"] == "x' OR '1'='1"
    found = await (await client.get("/books", params={"q": "drop table"})).json()
    assert [b["ISBN"] for b in found["items"]] == ["inj-1"]
    assert (await client.get("/books/' OR 1=1 --")).status == 404


async def test_put_updates_and_checks_isbn(client: Client) -> None:
    await client.post("/books", json=book())
    updated = book(quantity=3, price="1.5")
    response = await client.put("/books/978-0321815736", json=updated)
    assert response.status == 200
    assert (await response.json())["quantity"] == 3
    same_again = await client.put("/books/978-0321815736", json=updated)
    assert same_again.status == 200  # identical values still count as found
    mismatch = await client.put("/books/978-0321815736", json=book("other"))
    assert mismatch.status == 400
    missing = await client.put("/books/nope", json=book("nope"))
    assert missing.status == 404
    invalid = await client.put("/books/978-0321815736", json=book(price=-1))
    assert invalid.status == 400


async def test_delete(client: Client) -> None:
    await client.post("/books", json=book())
    assert (await client.delete("/books/978-0321815736")).status == 204
    assert (await client.get("/books/978-0321815736")).status == 404
    assert (await client.delete("/books/978-0321815736")).status == 404


async def _all_pages(client: Client, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/books", params=query)).json()
        seen.extend(b["ISBN"] for b in page["items"])
        cursor = page["next"]
        if cursor is None:
            return seen


async def test_pagination_visits_every_book_once(client: Client) -> None:
    isbns = [f"isbn-{i:03d}" for i in range(47)]
    await asyncio.gather(*(client.post("/books", json=book(i, genre="g" + str(n % 3)))
                           for n, i in enumerate(isbns)))
    assert await _all_pages(client, limit=10) == sorted(isbns)
    assert await _all_pages(client, limit=100) == sorted(isbns)
    assert await _all_pages(client, limit=7, genre="g1") == sorted(isbns[1::3])
    first = await (await client.get("/books")).json()
    assert len(first["items"]) == 20


async def test_search_and_filters(client: Client) -> None:
    await client.post("/books", json=book("a1", title="The Hobbit", Author="Tolkien", genre="fantasy"))
    await client.post("/books", json=book("a2", title="Dune", Author="Herbert", description="desert HOBBITS? no", genre="sf"))
    await client.post("/books", json=book("a3", title="100% Sure_thing", Author="Tolkien", genre="sf"))
    async def isbns(**params: str) -> list[str]:
        return [b["ISBN"] for b in (await (await client.get("/books", params=params)).json())["items"]]
    assert await isbns(q="hobbit") == ["a1", "a2"]
    assert await isbns(q="TOLKIEN") == ["a1", "a3"]
    assert await isbns(author="Tolkien") == ["a1", "a3"]
    assert await isbns(author="tolkien") == []
    assert await isbns(author="Tolkien", genre="sf") == ["a3"]
    assert await isbns(q="100%") == ["a3"]
    assert await isbns(q="sure_thing") == ["a3"]  # `_` separates words, matches no wildcard
    for no_word in ("1_0", "%"):  # see test_search: no word of 3+ letters or digits
        assert (await client.get("/books", params={"q": no_word})).status == 400


async def test_bad_list_parameters_are_400(client: Client) -> None:
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "-1"}, {"limit": "abc"},
                   {"cursor": "!!!"}, {"cursor": "bm90IGFuIGlzYm4gYXQgYWxs"}, {"q": ""}):
        response = await client.get("/books", params=params)
        assert response.status == 400, params
        assert "message" in await response.json()


async def test_json_errors_for_unknown_routes_and_methods(client: Client) -> None:
    missing = await client.get("/nope")
    assert missing.status == 404 and "message" in await missing.json()
    wrong = await client.patch("/books/x")
    assert wrong.status == 405 and "message" in await wrong.json()


async def test_status_ready_metrics_openapi(client: Client) -> None:
    status = await client.get("/status")
    assert status.status == 200 and await status.text() == "OK"
    assert status.content_type == "text/plain"
    ready = await client.get("/ready")
    assert ready.status == 200
    assert (await ready.json())["checks"]["database"] == "ok"
    await client.get("/books/x")
    metrics = await (await client.get("/metrics")).text()
    assert 'route="/books/{isbn}"' in metrics
    spec = await (await client.get("/openapi.json")).json()
    assert "/books/{ISBN}" in spec["paths"]


async def test_request_id_is_echoed_or_created(client: Client) -> None:
    given = await client.get("/status", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/status")
    assert len(made.headers["X-Request-ID"]) == 32  # 16 hex process prefix + 16 hex counter


def _raw_book(isbn: str, price: str, quantity: str) -> bytes:
    # JSON numbers exactly as an attacker writes them (a client library would re-format them).
    fields = {k: v for k, v in book(isbn).items() if k not in ("price", "quantity")}
    text = dumps(fields).decode()
    return f'{text[:-1]},"price":{price},"quantity":{quantity}}}'.encode()


@pytest.mark.parametrize(("price", "quantity", "stored"), [
    ("1e2", "1", (100, 1)),  # 1e2 is the number 100: a valid price
    ("12.30", "1e2", (12.3, 100)),  # a quantity of 1e2 / 100.0 is the integer 100 (decided)
    ("0.1e1", "100.0", (1, 100)),
    ("99999999.99", "2147483647", (99999999.99, 2147483647)),
])
async def test_numeric_edges_accepted(
    client: Client, price: str, quantity: str, stored: tuple[float, int]
) -> None:
    response = await client.post("/books", data=_raw_book("n-1", price, quantity),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 201, await response.text()
    got = await (await client.get("/books/n-1")).json()
    assert (got["price"], got["quantity"]) == stored


@pytest.mark.parametrize(("price", "quantity", "field"), [
    ("1e-999999", "1", "price"),  # was stored as 0: it has more than two decimals
    ("0.0000000000000000001", "1", "price"),
    ("12.300000000000000001", "1", "price"),  # a float rounds it to 12.3
    ("1e999999999", "1", "price"),
    ("1", "1.0000000000000001", "quantity"),  # a float rounds it to 1
    ("1", "1e-999999", "quantity"),
    ("1", "1e999999999", "quantity"),
    ("1", "-1e999999999", "quantity"),
    ("1", "2147483647.5", "quantity"),
    ("1", "1" + "0" * 5000, "quantity"),
])
async def test_numeric_edges_refused(client: Client, price: str, quantity: str, field: str) -> None:
    response = await client.post("/books", data=_raw_book("n-2", price, quantity),
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    body = await response.json()
    assert field in {error["field"] for error in body.get("errors", [{"field": field}])}
    assert (await client.get("/books/n-2")).status == 404
