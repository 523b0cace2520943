"""The database interface against real MariaDB and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from libcommon.db import Database, DatabaseUnavailable, DuplicateKeyError, connect
from libcommon.db.sqlite import to_sqlite_sql

DDL = {
    "mysql": "CREATE TABLE t (k VARCHAR(20) PRIMARY KEY, v INT NOT NULL, s TEXT) "
    "CHARACTER SET utf8mb4",
    "sqlite": "CREATE TABLE t (k VARCHAR(20) PRIMARY KEY, v INT NOT NULL, s TEXT)",
}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await connect(database_url, pool_min=1, pool_max=4)
    await database.execute(DDL[database.dialect])
    yield database
    await database.close()


def test_placeholders_translate_for_sqlite() -> None:
    assert to_sqlite_sql("SELECT * FROM t WHERE a = %s AND b LIKE '%%x'") == (
        "SELECT * FROM t WHERE a = ? AND b LIKE '%x'"
    )


async def test_roundtrip_and_dict_rows(db: Database) -> None:
    result = await db.execute("INSERT INTO t (k, v, s) VALUES (%s, %s, %s)", ("a", 1, "x'); DROP TABLE t; --"))
    assert result.rowcount == 1
    row = await db.fetch_one("SELECT k, v, s FROM t WHERE k = %s", ("a",))
    assert row == {"k": "a", "v": 1, "s": "x'); DROP TABLE t; --"}
    assert await db.fetch_one("SELECT k FROM t WHERE k = %s", ("missing",)) is None


async def test_duplicate_key_is_typed(db: Database) -> None:
    await db.execute("INSERT INTO t (k, v) VALUES (%s, %s)", ("a", 1))
    with pytest.raises(DuplicateKeyError):
        await db.execute("INSERT INTO t (k, v) VALUES (%s, %s)", ("a", 2))


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t (k, v) VALUES (%s, %s)", ("a", 1))
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO t (k, v) VALUES (%s, %s)", ("b", 1))
            raise RuntimeError("boom")
    rows = await db.fetch_all("SELECT k FROM t ORDER BY k")
    assert rows == [{"k": "a"}]


async def test_concurrent_inserts_one_wins(db: Database) -> None:
    async def insert() -> bool:
        try:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (k, v) VALUES (%s, %s)", ("same", 1))
            return True
        except DuplicateKeyError:
            return False

    results = await asyncio.gather(*(insert() for _ in range(20)))
    assert results.count(True) == 1
    assert (await db.fetch_one("SELECT COUNT(*) AS n FROM t"))["n"] == 1  # type: ignore[index]


async def test_unreachable_mysql_is_unavailable() -> None:
    db = await connect("mysql+aiomysql://nobody:x@127.0.0.1:1/none", connect_timeout_s=0.5)
    with pytest.raises(DatabaseUnavailable):
        await db.fetch_one("SELECT 1")
    await db.close()


async def test_mysql_connections_are_handed_out_in_arrival_order(
    mysql_database: Callable[[], str],
) -> None:
    db = await connect(mysql_database(), pool_min=1, pool_max=1)
    order: list[str] = []
    late: list[asyncio.Task[None]] = []

    async def work(name: str, hold_s: float = 0.0) -> None:
        async with db.transaction() as tx:
            order.append(name)
            await tx.fetch_one("SELECT 1 AS one")
            await asyncio.sleep(hold_s)
        if name == "first":
            # Arrives right after the connection is released: it must queue behind b and c.
            late.append(asyncio.create_task(work("late")))

    first = asyncio.create_task(work("first", 0.2))
    await asyncio.sleep(0.05)
    waiting = [asyncio.create_task(work(name)) for name in ("b", "c")]
    await asyncio.gather(first, *waiting)
    await asyncio.gather(*late)
    await db.close()
    assert order == ["first", "b", "c", "late"]
