"""db_pool_wait_seconds: the time a statement waited for a connection, MySQL and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from libcommon.db import connect


def pool_wait() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("db_pool_wait_seconds_count") or 0.0
    total = REGISTRY.get_sample_value("db_pool_wait_seconds_sum") or 0.0
    return count, total


@pytest.mark.mariadb
async def test_mysql_statements_queued_behind_a_busy_pool_record_their_wait(
    mysql_database: Callable[[], str],
) -> None:
    db = await connect(mysql_database(), pool_min=1, pool_max=1)
    try:
        count, total = pool_wait()
        await asyncio.gather(db.fetch_one("SELECT SLEEP(0.3) AS s"), db.fetch_one("SELECT 1 AS x"))
        async with db.transaction() as tx:
            await tx.fetch_one("SELECT 1 AS y")
        new_count, new_total = pool_wait()
        assert new_count == count + 3
        assert new_total - total >= 0.25  # the second statement waited for the first
    finally:
        await db.close()


async def test_sqlite_statements_record_their_wait_for_the_connection(tmp_path: Path) -> None:
    db = await connect(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        count, _total = pool_wait()
        await asyncio.gather(*(db.fetch_one("SELECT 1 AS x") for _ in range(5)))
        assert pool_wait()[0] == count + 5
    finally:
        await db.close()
