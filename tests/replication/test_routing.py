"""Writer + reader routing against real MariaDB GTID replication (no fake database).

The pair: tests/fixtures/replication.py. The services run in-process (aiohttp test client),
so their routing state and metrics can be read directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from libcommon.web.app import SETTINGS_KEY
from svc_book.app import create_app as create_book_app
from svc_book.settings import Settings as BookSettings
from svc_customer.app import create_app as create_customer_app
from svc_customer.settings import Settings as CustomerSettings
from tests.builders import book, customer
from tests.fixtures.replication import ReplicationPair
from tests.replication.helpers import (
    INTERVAL_S,
    Client,
    book_settings,
    eventually,
    fallbacks,
    queries,
    routed,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.xdist_group("replication")]

@pytest.fixture
async def book_client(
    aiohttp_client: Any, replicated_database: tuple[str, str], tmp_path: Path,
    replication_pair: ReplicationPair,
) -> Client:
    client: Client = await aiohttp_client(create_book_app(book_settings(replicated_database,
                                                                         tmp_path)))
    # The schema was migrated on the writer: let the reader catch up before asserting on it.
    replication_pair.wait_caught_up()
    await eventually(lambda: routed(client).lists_on_reader())
    return client


async def test_lists_and_searches_are_served_by_the_reader(
    book_client: Client, replication_pair: ReplicationPair
) -> None:
    for n in range(3):
        assert (await book_client.post("/books", json=book(f"isbn-{n}", title=f"Rust {n}"))).status == 201
    replication_pair.wait_caught_up()
    reader_selects = replication_pair.replica.status("Com_select")
    writer_selects = replication_pair.primary.status("Com_select")
    on_reader, on_writer = queries("reader", "list"), queries("writer", "list")
    paths = ["/books?limit=20"] * 10 + ["/books?q=rust&limit=20"] * 5 + ["/books?genre=non-fiction"]
    for path in paths:
        response = await book_client.get(path)
        assert response.status == 200
        assert len((await response.json())["items"]) == 3
    # A search may take several statements (svc_book/search.py): every one on the reader.
    assert queries("reader", "list") - on_reader >= len(paths)
    assert queries("writer", "list") == on_writer
    assert replication_pair.replica.status("Com_select") - reader_selects >= len(paths)
    assert replication_pair.primary.status("Com_select") - writer_selects == 0


async def test_point_reads_see_own_writes_while_the_replica_is_held_back(
    book_client: Client, replication_pair: ReplicationPair
) -> None:
    replication_pair.stop_replica_sql()
    await eventually(lambda: not routed(book_client).lists_on_reader())  # lag unknown
    for n in range(5):
        isbn = f"fresh-{n}"
        assert (await book_client.post("/books", json=book(isbn))).status == 201
        for path in (f"/books/{isbn}", f"/books/isbn/{isbn}"):
            got = await book_client.get(path)
            assert got.status == 200, path
            assert (await got.json())["ISBN"] == isbn
        assert (await book_client.put(f"/books/{isbn}", json=book(isbn, title="New"))).status == 200
        assert (await (await book_client.get(f"/books/{isbn}")).json())["title"] == "New"
    # The replica really is behind: the rows are not there.
    rows = replication_pair.replica.query(
        f"SELECT COUNT(*) AS n FROM `{_database(book_client)}`.books"
    )
    assert rows[0]["n"] == 0
    # Lists went to the writer (the lag is unknown with the SQL thread stopped): fresh too.
    lag_fallbacks = fallbacks("lag")
    listing = await (await book_client.get("/books?limit=20")).json()
    assert len(listing["items"]) == 5
    assert fallbacks("lag") - lag_fallbacks == 1
    replication_pair.start_replica_sql()
    await eventually(lambda: routed(book_client).lists_on_reader())


async def test_customer_point_reads_see_own_writes_while_the_replica_is_held_back(
    aiohttp_client: Any, replicated_database: tuple[str, str], replication_pair: ReplicationPair
) -> None:
    writer, reader = replicated_database
    settings = CustomerSettings(
        database_url=writer, database_read_url=reader, migrate_on_start="true",
        access_log=False, db_health_interval_s=INTERVAL_S, kafka_bootstrap_servers="127.0.0.1:9",
    )
    client: Client = await aiohttp_client(create_customer_app(settings))
    replication_pair.wait_caught_up()
    replication_pair.stop_replica_sql()
    created = await client.post("/customers", json=customer())
    assert created.status == 201
    customer_id = (await created.json())["id"]
    got = await client.get(f"/customers/{customer_id}")
    assert got.status == 200 and (await got.json())["name"] == "Star Lord"
    updated = await client.put(f"/customers/{customer_id}", json=customer(name="Peter Quill"))
    assert updated.status == 200
    assert (await (await client.get(f"/customers/{customer_id}")).json())["name"] == "Peter Quill"
    by_user = await client.get("/customers", params={"userId": "starlord2002@gmail.com"})
    assert by_user.status == 200 and (await by_user.json())["name"] == "Peter Quill"


async def test_lists_fall_back_to_the_writer_while_the_lag_exceeds_the_bound(
    book_client: Client, replication_pair: ReplicationPair
) -> None:
    db = routed(book_client)
    assert db.max_lag_s == 1.0
    # Each event applied 5 s after its commit: the lag climbs past the bound for ~4 s, a window
    # wide enough for a busy machine.
    replication_pair.set_replica_delay(5)
    await eventually(lambda: db.lists_on_reader())
    assert (await book_client.post("/books", json=book("delayed"))).status == 201
    # Seconds_Behind_Master climbs 0, 1, 2, ... while the event waits: beyond 1 s, lists go to
    # the writer, and they see the new book the reader does not have yet.
    await eventually(lambda: db.lag_s is not None and db.lag_s > 1.0, timeout_s=5)
    assert not db.lists_on_reader()
    on_writer, lag_fallbacks = queries("writer", "list"), fallbacks("lag")
    listing = await (await book_client.get("/books")).json()
    assert [item["ISBN"] for item in listing["items"]] == ["delayed"]
    assert queries("writer", "list") - on_writer == 1
    assert fallbacks("lag") - lag_fallbacks == 1
    # Once the reader has applied it, lists go back to the reader.
    await eventually(lambda: db.lists_on_reader(), timeout_s=8)
    on_reader = queries("reader", "list")
    listing = await (await book_client.get("/books")).json()
    assert [item["ISBN"] for item in listing["items"]] == ["delayed"]
    assert queries("reader", "list") - on_reader == 1



def _database(client: Client) -> str:
    assert client.app is not None
    settings = client.app[SETTINGS_KEY]
    assert isinstance(settings, BookSettings)
    return settings.database_url.rsplit("/", 1)[1]
