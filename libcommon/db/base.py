"""The database interface the repositories program against."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Row = dict[str, Any]
Params = Sequence[Any]
Dialect = Literal["mysql", "sqlite"]


class DatabaseError(Exception):
    """Base class of the errors the adapters raise."""


class DuplicateKeyError(DatabaseError):
    """A unique or primary key already holds this value."""


class DatabaseUnavailable(DatabaseError):
    """The server cannot be reached or the connection broke; callers answer 503 with
    `Retry-After: retry_after_s`."""

    retry_after_s: int = 1


@dataclass(frozen=True, slots=True)
class ExecResult:
    rowcount: int
    lastrowid: int | None


class Executor(Protocol):
    """Runs statements: the database itself (autocommit) or an open transaction."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = ()) -> ExecResult: ...


class Database(Executor, Protocol):
    """Its own statements and transactions run on the writer (the primary). Reads that may be
    served elsewhere say so by running on one of the two read executors; with one database
    (no reader, or SQLite) both are the database itself. The rules: libcommon/db/routing.py.
    """

    dialect: Dialect
    # Read-your-writes (`GET /books/{isbn}`): the writer; the reader only while the writer is down.
    point_reads: Executor
    # Lists and searches: the reader while it lags at most READ_MAX_LAG_S, else the writer.
    list_reads: Executor

    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """Commit on normal exit, roll back on an exception."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
