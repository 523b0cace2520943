"""Migrations: 0002 fills `doc` for books stored before it, exactly as the API renders them."""

from __future__ import annotations

import asyncio
from typing import Any

from libcommon.db import connect
from libcommon.migrate import migrate_sync
from svc_book.app import create_app
from svc_book.settings import Settings
from tests.builders import book


async def test_upgrade_backfills_documents(database_url: str, aiohttp_client: Any,
                                           tmp_path: Any) -> None:
    await asyncio.to_thread(migrate_sync, "svc_book", database_url, "0001")
    db = await connect(database_url)
    for isbn, price in (("old-1", "10.00"), ("old-2", "59.95")):
        await db.execute(
            "INSERT INTO books (isbn, title, author, description, genre, price, quantity)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (isbn, "Dune", "Herbert", "desert", "sf", price, 3),
        )
    await db.close()

    settings = Settings(database_url=database_url, migrate_on_start="true", access_log=False,
                        breaker_state_file=str(tmp_path / "b.json"))
    client = await aiohttp_client(create_app(settings))  # upgrades to head at start-up
    first = await (await client.get("/books/old-1")).json()
    assert first == {"ISBN": "old-1", "title": "Dune", "Author": "Herbert",
                     "description": "desert", "genre": "sf", "price": 10, "quantity": 3}
    assert (await (await client.get("/books/old-2")).json())["price"] == 59.95
    page = await (await client.get("/books")).json()
    assert [b["ISBN"] for b in page["items"]] == ["old-1", "old-2"]

    # The document follows every write.
    assert (await client.put("/books/old-1", json=book("old-1", quantity=9))).status == 200
    assert (await (await client.get("/books/old-1")).json()) == book("old-1", quantity=9)


async def test_upgrade_tags_existing_books(database_url: str, aiohttp_client: Any,
                                           tmp_path: Any) -> None:
    """0004 fills `etag` with the tag GET computes, so If-Match works on books stored before."""
    await asyncio.to_thread(migrate_sync, "svc_book", database_url, "0001")
    db = await connect(database_url)
    await db.execute(
        "INSERT INTO books (isbn, title, author, description, genre, price, quantity)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)", ("old-1", "Dune", "Herbert", "desert", "sf",
                                                 "10.00", 3))
    await db.close()
    settings = Settings(database_url=database_url, migrate_on_start="true", access_log=False,
                        breaker_state_file=str(tmp_path / "b.json"))
    client = await aiohttp_client(create_app(settings))
    tag = (await client.get("/books/old-1")).headers["ETag"]
    assert (await client.put("/books/old-1", json=book("old-1"),
                             headers={"If-Match": '"0123"'})).status == 412
    assert (await client.put("/books/old-1", json=book("old-1"),
                             headers={"If-Match": tag})).status == 200
