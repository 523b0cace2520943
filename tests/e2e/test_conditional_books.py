"""Conditional requests and Idempotency-Key on books, on MariaDB and SQLite, directly and
through the Book BFF (desktop and mobile)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import bff_book.app
import bff_book.settings
import svc_book.app
import svc_book.settings
from libcommon.conditional import resource_tag
from libcommon.db import connect
from svc_book.routes import BOOKS_KEY
from tests.builders import MOBILE_UA, SECRET, book, headers

Client = TestClient[web.Request, web.Application]
ISBN = "978-0321815736"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> svc_book.settings.Settings:
    return svc_book.settings.Settings(
        database_url=database_url, migrate_on_start="true", access_log=False,
        breaker_state_file=str(tmp_path / "breaker.json"), recommender_url="http://127.0.0.1:9")


@pytest.fixture
async def service(aiohttp_server: Any, settings: svc_book.settings.Settings) -> TestServer:
    server: TestServer = await aiohttp_server(svc_book.app.create_app(settings))
    return server


@pytest.fixture
async def direct(aiohttp_client: Any, service: TestServer) -> Client:
    client: Client = await aiohttp_client(service)
    return client


@pytest.fixture
async def bff(aiohttp_client: Any, service: TestServer) -> Client:
    app = bff_book.app.create_app(bff_book.settings.Settings(
        book_service_url=str(service.make_url("")), jwt_secret=SECRET, access_log=False))
    client: Client = await aiohttp_client(app)
    return client


async def _count(database_url: str, sql: str) -> int:
    db = await connect(database_url)
    try:
        row = await db.fetch_one(sql)
        assert row is not None
        return int(row["n"])
    finally:
        await db.close()


async def test_etag_and_if_none_match(direct: Client, bff: Client) -> None:
    created = await direct.post("/books", json=book())
    tag = created.headers["ETag"]
    assert tag == f'"{resource_tag(await created.read())}"'
    for client, auth in ((direct, {}), (bff, headers())):
        for path in (f"/books/{ISBN}", f"/books/isbn/{ISBN}"):
            got = await client.get(path, headers=auth)
            assert got.status == 200 and got.headers["ETag"] == tag
            for value in (tag, f'W/{tag}', f'"other", {tag}', "*"):
                cached = await client.get(path, headers={**auth, "If-None-Match": value})
                assert cached.status == 304, value
                assert await cached.read() == b"" and cached.headers["ETag"] == tag
            head = await client.head(path, headers={**auth, "If-None-Match": tag})
            assert head.status == 304
            changed = await client.get(path, headers={**auth, "If-None-Match": '"other"'})
            assert changed.status == 200 and (await changed.json())["ISBN"] == ISBN
    # A list is not a single resource: no ETag.
    assert "ETag" not in (await direct.get("/books")).headers


async def test_mobile_clients_get_their_own_etag(direct: Client, bff: Client) -> None:
    desktop_tag = (await direct.post("/books", json=book())).headers["ETag"]
    mobile = headers(ua=MOBILE_UA)
    got = await bff.get(f"/books/{ISBN}", headers=mobile)
    assert (await got.json())["genre"] == 3
    mobile_tag = got.headers["ETag"]
    assert mobile_tag == desktop_tag[:-1] + '-m"'
    assert (await bff.get(f"/books/{ISBN}", headers={
        **mobile, "If-None-Match": mobile_tag})).status == 304
    # The desktop tag names another representation: the mobile client gets its body.
    assert (await bff.get(f"/books/{ISBN}", headers={
        **mobile, "If-None-Match": desktop_tag})).status == 200
    assert (await bff.get(f"/books/{ISBN}", headers={
        **headers(), "If-None-Match": mobile_tag})).status == 200
    # If-Match: a mobile client may update what it read (PUT answers are never reshaped).
    put = await bff.put(f"/books/{ISBN}", json=book(quantity=1),
                        headers={**mobile, "If-Match": mobile_tag})
    assert put.status == 200, await put.text()
    assert put.headers["ETag"] != desktop_tag and not put.headers["ETag"].endswith('-m"')


async def test_put_and_delete_with_if_match(direct: Client, bff: Client) -> None:
    first = (await direct.post("/books", json=book())).headers["ETag"]
    for client, auth in ((direct, {}), (bff, headers())):
        current = (await client.get(f"/books/{ISBN}", headers=auth)).headers["ETag"]
        before = await (await client.get(f"/books/{ISBN}", headers=auth)).read()
        for stale in ('"0123456789abcdef0123456789abcdef"', f"W/{current}", "garbage"):
            refused = await client.put(f"/books/{ISBN}", json=book(quantity=999),
                                       headers={**auth, "If-Match": stale})
            assert refused.status == 412, stale
            assert "If-Match" in (await refused.json())["message"]
            assert await (await client.get(f"/books/{ISBN}", headers=auth)).read() == before
        accepted = await client.put(f"/books/{ISBN}", json=book(quantity=7),
                                    headers={**auth, "If-Match": f'"x", {current}'})
        assert accepted.status == 200
        new_tag = accepted.headers["ETag"]
        assert new_tag != current
        assert (await client.get(f"/books/{ISBN}", headers=auth)).headers["ETag"] == new_tag
        # The old tag is stale now; * and no If-Match at all work as before.
        assert (await client.put(f"/books/{ISBN}", json=book(quantity=8),
                                 headers={**auth, "If-Match": current})).status == 412
        assert (await client.put(f"/books/{ISBN}", json=book(quantity=9),
                                 headers={**auth, "If-Match": "*"})).status == 200
        assert (await client.put(f"/books/{ISBN}", json=book(quantity=106),
                                 headers=auth)).status == 200
        # Unknown: 404 with or without If-Match.
        assert (await client.put("/books/none", json=book("none"),
                                 headers={**auth, "If-Match": current})).status == 404
    # Same content, same tag (the tag is the document's).
    assert (await direct.get(f"/books/{ISBN}")).headers["ETag"] == first
    assert (await direct.delete(f"/books/{ISBN}", headers={"If-Match": '"stale"'})).status == 412
    assert (await direct.get(f"/books/{ISBN}")).status == 200
    assert (await bff.delete(f"/books/{ISBN}", headers={**headers(), "If-Match": first})).status == 204
    assert (await direct.delete(f"/books/{ISBN}", headers={"If-Match": first})).status == 404


async def test_concurrent_updates_with_one_tag_one_wins(
    direct: Client, database_url: str
) -> None:
    tag = (await direct.post("/books", json=book())).headers["ETag"]
    answers = await asyncio.gather(*(
        direct.put(f"/books/{ISBN}", json=book(quantity=n), headers={"If-Match": tag})
        for n in range(20)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [412] * 19, statuses
    winner = next(a for a in answers if a.status == 200)
    stored = await (await direct.get(f"/books/{ISBN}")).json()
    assert stored == await winner.json()


async def test_idempotency_key_replays_the_first_answer(
    direct: Client, bff: Client, database_url: str
) -> None:
    key = {"Idempotency-Key": "7f1c2b9e-2f4b-4a38-9d0c-2a9f7c1e5b11"}
    first = await direct.post("/books", json=book(), headers=key)
    assert first.status == 201 and "Idempotent-Replayed" not in first.headers
    body = await first.read()
    for client, auth in ((direct, {}), (bff, headers())):
        again = await client.post("/books", json=book(), headers={**auth, **key})
        assert again.status == 201, await again.text()
        assert await again.read() == body
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Location"].endswith(f"/books/{ISBN}")
        assert again.headers["Location"].startswith(f"http://{client.host}:{client.port}/")
        assert again.headers["Idempotent-Replayed"] == "true"
        other = await client.post("/books", json=book(quantity=2), headers={**auth, **key})
        assert other.status == 422
        assert "Idempotency-Key" in (await other.json())["message"]
    assert await _count(database_url, "SELECT COUNT(*) AS n FROM books") == 1
    # Without a key, or with a new one, the ISBN is taken: 422 as always.
    assert (await direct.post("/books", json=book())).status == 422
    assert (await direct.post("/books", json=book(),
                              headers={"Idempotency-Key": "another"})).status == 422
    assert await _count(database_url, "SELECT COUNT(*) AS n FROM idempotency_keys") == 1
    for bad in ("", " spaced key ", "x" * 256, "é"):
        refused = await direct.post("/books", json=book("B-1"),
                                    headers={"Idempotency-Key": bad})
        assert refused.status == 400, bad


async def test_twenty_parallel_retries_make_one_book(direct: Client, database_url: str) -> None:
    key = {"Idempotency-Key": "parallel-retry-1"}
    started = time.perf_counter()
    answers = await asyncio.gather(*(
        direct.post("/books", json=book(), headers=key) for _ in range(20)))
    elapsed_ms = (time.perf_counter() - started) * 1000
    bodies = {await a.read() for a in answers}
    seen = {(a.status, a.headers["Location"], a.headers["ETag"]) for a in answers}
    replayed = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)
    print(f"20 parallel POSTs, one Idempotency-Key: statuses {sorted({a.status for a in answers})},"
          f" {len(bodies)} distinct body, {replayed} replayed, "
          f"{await _count(database_url, 'SELECT COUNT(*) AS n FROM books')} row, "
          f"{elapsed_ms:.0f} ms")
    assert len(seen) == 1 and len(bodies) == 1, seen
    assert next(iter(seen))[0] == 201
    assert replayed == 19
    assert await _count(database_url, "SELECT COUNT(*) AS n FROM books") == 1


async def test_keys_expire(
    direct: Client, service: TestServer, database_url: str, settings: Any
) -> None:
    key = {"Idempotency-Key": "short-lived"}
    assert (await direct.post("/books", json=book(), headers=key)).status == 201
    db = await connect(database_url)
    try:
        # Older than IDEMPOTENCY_TTL_S: the key is forgotten, the request is a new one.
        await db.execute("UPDATE idempotency_keys SET created_at_ms = %s",
                         (int(time.time() * 1000) - settings.idempotency_ttl_s * 1000 - 1,))
        again = await direct.post("/books", json=book(), headers=key)
        assert again.status == 422  # a new request: the ISBN exists
        assert (await direct.post("/books", json=book("B-2"), headers=key)).status == 201
        await db.execute("UPDATE idempotency_keys SET created_at_ms = 0")
        assert await service.app[BOOKS_KEY].keys.purge() == 1
        assert await _count(database_url, "SELECT COUNT(*) AS n FROM idempotency_keys") == 0
    finally:
        await db.close()
