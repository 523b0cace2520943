"""Open the adapter a DATABASE_URL names (the adapters import `url`, never the reverse)."""

from __future__ import annotations

from typing import Any

from libcommon.db.base import Database
from libcommon.db.url import parse_database_url


async def connect(url: str, **options: Any) -> Database:
    """Open a pool (MySQL) or a connection (SQLite). Options: pool_min, pool_max, recycle_s,
    connect_timeout_s."""
    parsed = parse_database_url(url)
    if parsed.dialect == "sqlite":
        from libcommon.db.sqlite import SqliteDatabase

        return await SqliteDatabase.open(parsed.path)
    from libcommon.db.mysql import MysqlDatabase

    return await MysqlDatabase.open(parsed, **options)
