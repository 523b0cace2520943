"""SQLite adapter over aiosqlite: the embedded default for local runs."""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from libcommon.db.base import (
    DatabaseError,
    DatabaseUnavailable,
    Dialect,
    DuplicateKeyError,
    ExecResult,
    Executor,
    Params,
    Row,
)
from libcommon.db.metrics import DB_POOL_WAIT as POOL_WAIT

_PLACEHOLDER = re.compile(r"%s|%%")


@functools.lru_cache(maxsize=512)
def to_sqlite_sql(sql: str) -> str:
    """`%s` → `?` and `%%` → `%` (the pyformat conventions of aiomysql)."""
    return _PLACEHOLDER.sub(lambda m: "?" if m.group() == "%s" else "%", sql)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc):
        return DuplicateKeyError(str(exc))
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return DatabaseUnavailable(str(exc))
    if isinstance(exc, sqlite3.Error):
        return DatabaseError(type(exc).__name__)
    return exc


class _SqliteExecutor:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        try:
            async with self._conn.execute(to_sqlite_sql(sql), tuple(params)) as cursor:
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]
        except Exception as exc:
            raise _translate(exc) from exc

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        try:
            async with self._conn.execute(to_sqlite_sql(sql), tuple(params)) as cursor:
                return ExecResult(cursor.rowcount, cursor.lastrowid)
        except Exception as exc:
            raise _translate(exc) from exc


class SqliteDatabase:
    """One connection, one statement or transaction at a time (an asyncio lock)."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._executor = _SqliteExecutor(conn)
        self._lock = asyncio.Lock()
        self.point_reads: Executor = self
        self.list_reads: Executor = self

    @classmethod
    async def open(cls, path: str) -> SqliteDatabase:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA foreign_keys=ON")
        return cls(conn)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """The connection, after the statements before; the wait is `db_pool_wait_seconds`."""
        waiting = time.perf_counter()
        async with self._lock:
            POOL_WAIT.observe(time.perf_counter() - waiting)
            yield

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._turn():
            return await self._executor.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._turn():
            return await self._executor.fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        async with self._turn():
            return await self._executor.execute(sql, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        async with self._turn():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._executor
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            try:
                await self._conn.execute("COMMIT")
            except Exception as exc:
                raise _translate(exc) from exc

    async def ping(self) -> None:
        await self.fetch_one("SELECT 1 AS ok")

    async def close(self) -> None:
        await self._conn.close()


