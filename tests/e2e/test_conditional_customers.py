"""Conditional requests and Idempotency-Key on customers, on MariaDB and SQLite, directly and
through the Customer BFF: a replayed registration stores no second customer and no second
event (so the CRM sends no second e-mail)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import bff_customer.app
import bff_customer.settings
import svc_customer.app
import svc_customer.settings
from libcommon.db import connect
from tests.builders import MOBILE_UA, SECRET, customer, headers

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def service(aiohttp_server: Any, database_url: str) -> TestServer:
    # Nothing listens on port 9: events stay in the outbox, where the test counts them.
    settings = svc_customer.settings.Settings(
        database_url=database_url, migrate_on_start="true", access_log=False,
        kafka_bootstrap_servers="127.0.0.1:9")
    server: TestServer = await aiohttp_server(svc_customer.app.create_app(settings))
    return server


@pytest.fixture
async def direct(aiohttp_client: Any, service: TestServer) -> Client:
    client: Client = await aiohttp_client(service)
    return client


@pytest.fixture
async def bff(aiohttp_client: Any, service: TestServer) -> Client:
    app = bff_customer.app.create_app(bff_customer.settings.Settings(
        customer_service_url=str(service.make_url("")), jwt_secret=SECRET, access_log=False))
    client: Client = await aiohttp_client(app)
    return client


async def _counts(database_url: str) -> tuple[int, int]:
    db = await connect(database_url)
    try:
        customers = await db.fetch_one("SELECT COUNT(*) AS n FROM customers")
        events = await db.fetch_one("SELECT COUNT(*) AS n FROM outbox")
        assert customers is not None and events is not None
        return int(customers["n"]), int(events["n"])
    finally:
        await db.close()


async def test_etag_304_and_if_match(direct: Client, bff: Client) -> None:
    created = await direct.post("/customers", json=customer("ann+etag@example.org"))
    tag = created.headers["ETag"]
    customer_id = (await created.json())["id"]
    paths = (f"/customers/{customer_id}", "/customers?userId=ann+etag@example.org")
    for client, auth in ((direct, {}), (bff, headers())):
        for path in paths:
            got = await client.get(path, headers=auth)
            assert got.status == 200 and got.headers["ETag"] == tag, path
            cached = await client.get(path, headers={**auth, "If-None-Match": tag})
            assert cached.status == 304 and await cached.read() == b""
    mobile = headers(ua=MOBILE_UA)
    shaped = await bff.get(paths[0], headers=mobile)
    assert "address" not in await shaped.json()
    mobile_tag = shaped.headers["ETag"]
    assert mobile_tag != tag
    assert (await bff.get(paths[1], headers={**mobile, "If-None-Match": mobile_tag})).status == 304
    assert (await bff.get(paths[1], headers={**mobile, "If-None-Match": tag})).status == 200

    before = await (await direct.get(paths[0])).read()
    stale = await bff.put(paths[0], json=customer("ann+etag@example.org", name="Eve"),
                          headers={**headers(), "If-Match": '"stale"'})
    assert stale.status == 412
    assert await (await direct.get(paths[0])).read() == before
    updated = await bff.put(paths[0], json=customer("ann+etag@example.org", name="Ann"),
                            headers={**mobile, "If-Match": mobile_tag})
    assert updated.status == 200 and (await updated.json())["name"] == "Ann"
    new_tag = updated.headers["ETag"]
    assert new_tag not in (tag, mobile_tag)
    assert (await direct.delete(paths[0], headers={"If-Match": tag})).status == 412
    assert (await direct.delete(paths[0], headers={"If-Match": new_tag})).status == 204


async def test_replayed_registration_sends_no_second_event(
    direct: Client, bff: Client, database_url: str
) -> None:
    key = {"Idempotency-Key": "signup-0f3a"}
    first = await bff.post("/customers", json=customer(), headers={**headers(), **key})
    assert first.status == 201
    again = await bff.post("/customers", json=customer(), headers={**headers(), **key})
    assert again.status == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert await again.read() == await first.read()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    other = await direct.post("/customers", json=customer(name="Someone Else"), headers=key)
    assert other.status == 422
    assert await _counts(database_url) == (1, 1)


async def test_twenty_parallel_retries_make_one_customer_and_one_event(
    direct: Client, database_url: str
) -> None:
    key = {"Idempotency-Key": "9b2e6a54-parallel"}
    started = time.perf_counter()
    answers = await asyncio.gather(*(
        direct.post("/customers", json=customer("par+allel@example.org"), headers=key)
        for _ in range(20)))
    elapsed_ms = (time.perf_counter() - started) * 1000
    bodies = {await a.read() for a in answers}
    seen = {(a.status, a.headers["Location"], a.headers["ETag"]) for a in answers}
    replayed = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)
    rows, events = await _counts(database_url)
    print(f"20 parallel POST /customers, one Idempotency-Key: {len(seen)} distinct answer "
          f"(status {next(iter(seen))[0]}), {replayed} replayed, {rows} customer row, "
          f"{events} event, {elapsed_ms:.0f} ms")
    assert len(seen) == 1 and len(bodies) == 1 and next(iter(seen))[0] == 201
    assert replayed == 19
    assert (rows, events) == (1, 1)
