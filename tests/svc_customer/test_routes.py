"""Every Customer service route against real MariaDB and SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from libcommon.db import Database
from svc_customer.settings import Settings
from tests.builders import customer

Client = TestClient[web.Request, web.Application]
DUPLICATE = {"message": "This user ID already exists in the system."}


async def create(client: Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/customers", json=body or customer())
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_create_then_get(client: Client) -> None:
    response = await client.post("/customers", json=customer())
    assert response.status == 201
    body = await response.json()
    assert isinstance(body["id"], int) and body["id"] > 0
    assert body == {"id": body["id"], **customer()}
    assert response.headers["Location"] == (
        f"http://{client.host}:{client.port}/customers/{body['id']}"
    )
    got = await client.get(f"/customers/{body['id']}")
    assert got.status == 200
    assert await got.json() == body


async def test_location_honours_forwarded_headers(client: Client) -> None:
    response = await client.post(
        "/customers", json=customer(),
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"},
    )
    body = await response.json()
    assert response.headers["Location"] == f"https://shop.example.com/customers/{body['id']}"


async def test_input_is_normalised_and_address2_omitted_when_unset(client: Client) -> None:
    body = customer("  Gamora@Zen.io ", name="  Gamora ", state=" ny ")
    del body["address2"]
    created = await create(client, body)
    expected = {"id": created["id"], **customer("Gamora@Zen.io", name="Gamora", state="NY")}
    del expected["address2"]
    assert created == expected
    assert await (await client.get(f"/customers/{created['id']}")).json() == expected
    for blank in (None, "  "):
        other = await create(client, customer(f"x{created['id']}{blank is None}@x.io",
                                              address2=blank))
        stored = await (await client.get(f"/customers/{other['id']}")).json()
        assert "address2" not in other and "address2" not in stored


async def test_id_and_unknown_fields_in_the_body_are_ignored(client: Client) -> None:
    created = await create(client, customer(id=424242, role="admin"))
    assert created["id"] != 424242
    assert "role" not in created
    assert (await client.get("/customers/424242")).status == 404
    stored = await (await client.get(f"/customers/{created['id']}")).json()
    assert stored == created


async def test_ids_are_never_reused(client: Client) -> None:
    first = await create(client, customer("first@x.io"))
    assert (await client.delete(f"/customers/{first['id']}")).status == 204
    second = await create(client, customer("second@x.io"))
    assert second["id"] > first["id"]


async def test_duplicate_user_id_is_422_case_insensitively(client: Client, db: Database) -> None:
    await create(client, customer("Rocket@Raccoon.io"))
    for user_id in ("Rocket@Raccoon.io", "rocket@raccoon.io", "ROCKET@RACCOON.IO"):
        response = await client.post("/customers", json=customer(user_id, name="Other"))
        assert response.status == 422
        assert await response.json() == DUPLICATE
    rows = await db.fetch_all("SELECT user_id FROM customers")
    assert rows == [{"user_id": "Rocket@Raccoon.io"}]


async def test_accented_user_ids_are_distinct_on_both_dialects(client: Client) -> None:
    # utf8mb4_unicode_ci would call these equal, SQLite NOCASE not: the key column decides.
    await create(client, customer("jose@x.io"))
    await create(client, customer("josé@x.io"))
    duplicate = await client.post("/customers", json=customer("JOSÉ@x.io"))
    assert duplicate.status == 422


async def test_concurrent_posts_of_one_user_id_one_wins(client: Client, db: Database) -> None:
    responses = await asyncio.gather(
        *(client.post("/customers", json=customer("groot@tree.io")) for _ in range(50))
    )
    statuses = [r.status for r in responses]
    assert statuses.count(201) == 1
    assert statuses.count(422) == 48 + 1
    assert (await db.fetch_one("SELECT COUNT(*) AS n FROM customers"))["n"] == 1  # type: ignore[index]
    assert (await db.fetch_one("SELECT COUNT(*) AS n FROM outbox"))["n"] == 1  # type: ignore[index]


async def test_post_writes_the_event_to_the_outbox(
    client: Client, db: Database, customer_settings: Settings
) -> None:
    response = await client.post("/customers", json=customer())
    raw_body = await response.read()
    created = orjson.loads(raw_body)
    rows = await db.fetch_all(
        "SELECT event_id, topic, msg_key, payload, headers, created_at_ms FROM outbox"
    )
    assert len(rows) == 1
    row = rows[0]
    payload = row["payload"]  # bytes on MySQL (BLOB), str on SQLite (bound as text)
    assert (payload.encode() if isinstance(payload, str) else bytes(payload)) == raw_body
    assert orjson.loads(row["payload"]) == created
    assert row["msg_key"] == str(created["id"])
    assert row["topic"] == customer_settings.kafka_customer_topic == "bookstore.customer.evt"
    headers = orjson.loads(row["headers"])
    assert headers["event-id"] == row["event_id"] and len(row["event_id"]) >= 32
    assert row["created_at_ms"] > 1_600_000_000_000


async def test_failed_and_non_create_writes_send_no_event(client: Client, db: Database) -> None:
    created = await create(client)
    assert (await client.post("/customers", json=customer())).status == 422
    assert (await client.post("/customers", json=customer(state="XX"))).status == 400
    assert (await client.put(f"/customers/{created['id']}", json=customer(name="N"))).status == 200
    assert (await client.delete(f"/customers/{created['id']}")).status == 204
    assert (await db.fetch_one("SELECT COUNT(*) AS n FROM outbox"))["n"] == 1  # type: ignore[index]


async def test_find_by_user_id(client: Client) -> None:
    created = await create(client, customer("Drax+Books@Destroyer.io"))
    for query in ("Drax%2BBooks@Destroyer.io", "drax%2bbooks@destroyer.io"):
        response = await client.get(f"/customers?userId={query}")
        assert response.status == 200, query
        assert await response.json() == created
    response = await client.get("/customers", params={"userId": "drax+books@destroyer.io"})
    assert response.status == 200
    # A bare `+` is a `+` (contract, second wave): an e-mail address holds no space.
    bare = await client.get("/customers?userId=Drax+Books@Destroyer.io")
    assert bare.status == 200
    assert await bare.json() == created
    assert (await client.get("/customers?userId=nobody@destroyer.io")).status == 404


async def test_find_by_user_id_bad_parameters(client: Client) -> None:
    for path in ("/customers", "/customers?userId=", "/customers?userId=not-an-email",
                 "/customers?user_id=a@x.io"):
        response = await client.get(path)
        assert response.status == 400, path
        body = await response.json()
        assert body["message"] and body["errors"][0]["field"] == "userId"


async def test_get_bad_and_unknown_ids(client: Client) -> None:
    for bad in ("abc", "0", "-1", "1.5", "9223372036854775808", "99999999999999999999999"):
        response = await client.get(f"/customers/{bad}")
        assert response.status == 400, bad
        assert (await response.json())["message"] == "Customer id must be a positive integer."
    response = await client.get("/customers/9223372036854775807")
    assert response.status == 404
    assert "message" in await response.json()


async def test_update(client: Client) -> None:
    created = await create(client)
    changed = customer("New.Lord@gmail.com", name="Peter Quill", state="mn", id=999)
    del changed["address2"]
    response = await client.put(f"/customers/{created['id']}", json=changed)
    assert response.status == 200
    expected = {**customer("New.Lord@gmail.com", name="Peter Quill", state="MN"),
                "id": created["id"]}
    del expected["address2"]  # a PUT replaces the whole customer
    assert await response.json() == expected
    assert await (await client.get(f"/customers/{created['id']}")).json() == expected
    assert (await client.get("/customers/999")).status == 404
    found = await client.get("/customers?userId=new.lord@gmail.com")
    assert await found.json() == expected
    assert (await client.get("/customers?userId=starlord2002@gmail.com")).status == 404


async def test_update_identical_values_and_own_user_id_in_other_case(client: Client) -> None:
    created = await create(client)
    same = await client.put(f"/customers/{created['id']}", json=customer())
    assert same.status == 200 and await same.json() == created
    recased = await client.put(f"/customers/{created['id']}",
                               json=customer("StarLord2002@Gmail.com"))
    assert recased.status == 200
    assert (await recased.json())["userId"] == "StarLord2002@Gmail.com"


async def test_update_failures(client: Client) -> None:
    first = await create(client, customer("one@x.io"))
    second = await create(client, customer("two@x.io"))
    taken = await client.put(f"/customers/{second['id']}", json=customer("ONE@x.io"))
    assert taken.status == 422
    assert await taken.json() == DUPLICATE
    assert await (await client.get(f"/customers/{second['id']}")).json() == second
    missing = await client.put("/customers/987654", json=customer("three@x.io"))
    assert missing.status == 404
    invalid = await client.put(f"/customers/{first['id']}", json=customer(state="ZZ"))
    assert invalid.status == 400
    assert (await invalid.json())["errors"] == [
        {"field": "state", "message": "must be a two-letter US state, DC or territory code"}
    ]
    bad_id = await client.put("/customers/abc", json=customer())
    assert bad_id.status == 400
    assert await (await client.get(f"/customers/{first['id']}")).json() == first


async def test_delete(client: Client) -> None:
    created = await create(client)
    assert (await client.delete(f"/customers/{created['id']}")).status == 204
    assert (await client.get(f"/customers/{created['id']}")).status == 404
    assert (await client.delete(f"/customers/{created['id']}")).status == 404
    assert (await client.delete("/customers/abc")).status == 400
    # The userId is free again.
    assert (await client.post("/customers", json=customer())).status == 201


async def test_sql_shaped_and_unicode_strings_are_stored_verbatim(
    client: Client, db: Database
) -> None:
    nasty = {
        "name": "Robert'); DROP TABLE customers;--",
        "phone": "1 OR 1=1",
        "address": "%s %% \\ \" ' ` \\x00 \x00 ;",
        "address2": "' UNION SELECT * FROM outbox --",
        "city": "Zürich 🏙️ 東京",
        "zipcode": "${jndi:ldap://x}",
    }
    created = await create(client, customer("o'brien+%25@x.io", **nasty))
    assert {k: created[k] for k in nasty} == nasty
    got = await client.get(f"/customers/{created['id']}")
    assert await got.json() == created
    found = await client.get("/customers", params={"userId": "O'Brien+%25@x.io"})
    assert await found.json() == created
    assert (await db.fetch_one("SELECT COUNT(*) AS n FROM customers"))["n"] == 1  # type: ignore[index]


async def test_error_bodies_and_unsupported_methods(client: Client) -> None:
    response = await client.patch("/customers/1", json=customer())
    assert response.status == 405
    assert "PUT" in response.headers["Allow"]
    assert "message" in await response.json()
    assert (await client.delete("/customers")).status == 405
    assert (await client.get("/ready")).status == 200
