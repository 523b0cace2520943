"""Migrations: 0002 fills `doc` for customers stored before it, as the API renders them."""

from __future__ import annotations

import asyncio
from typing import Any

from libcommon.db import connect
from libcommon.migrate import migrate_sync
from svc_customer.app import create_app
from svc_customer.settings import Settings
from tests.builders import customer


async def test_upgrade_backfills_documents(database_url: str, aiohttp_client: Any) -> None:
    await asyncio.to_thread(migrate_sync, "svc_customer", database_url, "0001")
    db = await connect(database_url)
    for user_id, address2 in (("old1@example.com", None), ("old2@example.com", "apt 2")):
        await db.execute(
            "INSERT INTO customers (user_id, user_id_key, name, phone, address, address2, city,"
            " state, zipcode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (user_id, user_id, "Old", "1", "1 Main St", address2, "Erie", "PA", "16501"),
        )
    await db.close()

    settings = Settings(database_url=database_url, migrate_on_start="true", access_log=False,
                        kafka_bootstrap_servers="127.0.0.1:9")
    client = await aiohttp_client(create_app(settings))  # upgrades to head at start-up
    first = await (await client.get("/customers/1")).json()
    assert first == {"id": 1, "userId": "old1@example.com", "name": "Old", "phone": "1",
                     "address": "1 Main St", "city": "Erie", "state": "PA", "zipcode": "16501"}
    second = await (await client.get("/customers", params={"userId": "OLD2@example.com"})).json()
    assert second["id"] == 2 and second["address2"] == "apt 2"

    # The document follows every write.
    assert (await client.put("/customers/1", json=customer("old1@example.com"))).status == 200
    assert await (await client.get("/customers/1")).json() == {
        "id": 1, **customer("old1@example.com")}


async def test_upgrade_tags_existing_customers(database_url: str, aiohttp_client: Any) -> None:
    """0004 fills `etag` with the tag GET computes, so If-Match works on older customers."""
    await asyncio.to_thread(migrate_sync, "svc_customer", database_url, "0001")
    db = await connect(database_url)
    await db.execute(
        "INSERT INTO customers (user_id, user_id_key, name, phone, address, address2, city,"
        " state, zipcode) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        ("old1@example.com", "old1@example.com", "Old", "1", "1 Main St", None, "Erie", "PA",
         "16501"))
    await db.close()
    settings = Settings(database_url=database_url, migrate_on_start="true", access_log=False,
                        kafka_bootstrap_servers="127.0.0.1:9")
    client = await aiohttp_client(create_app(settings))
    tag = (await client.get("/customers/1")).headers["ETag"]
    assert (await client.put("/customers/1", json=customer("old1@example.com"),
                             headers={"If-Match": '"0123"'})).status == 412
    assert (await client.put("/customers/1", json=customer("old1@example.com"),
                             headers={"If-Match": tag})).status == 200
