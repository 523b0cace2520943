"""A writer and a reader (an RDS reader endpoint or any replica) behind one `Database`.

- Writes, transactions and the database's own reads (the outbox relay): the writer. While the
  writer is down they fail at once with DatabaseUnavailable (503 + Retry-After), unsent.
- `point_reads` (one book, one customer): the writer, so a client reads its own writes; while
  the writer is down, the reader (stale but available).
- `list_reads` (lists, searches, filters): the reader while its lag is at most
  READ_MAX_LAG_S, else the writer; while the writer is down, the reader at any lag.

The reader's lag (and whether it answers) is sampled in the background every
DB_HEALTH_INTERVAL_S, never per request. The writer is declared down when a statement finds it
unreachable (or /ready does); from then on reads skip it and writes are refused without
waiting, and the background loop pings it every interval until it answers: writes resume
without a restart. A list read the reader fails (it vanished since the last sample) is
retried on the writer, so a reader that disappears costs no failed request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal, TypeVar

from libcommon import metrics
from libcommon.db.base import (
    Database,
    DatabaseError,
    DatabaseUnavailable,
    Dialect,
    ExecResult,
    Executor,
    Params,
    Row,
)
from libcommon.db.errors import WRONG_URL_CODES, error_text, server_error_code, server_unreachable
from libcommon.db.lag import LagUnreadable, read_replica_lag

log = logging.getLogger("libcommon.db.routing")

T = TypeVar("T")
Call = Callable[[Executor], Awaitable[T]]
Kind = Literal["write", "writer_read", "point", "list"]


class ReaderMisconfigured(DatabaseError):
    """DATABASE_READ_URL names an account or database the reader refuses: stop at start."""


class WriterDown(DatabaseUnavailable):
    """The writer is known to be unreachable; the statement was not sent."""


class NoAnswer(DatabaseUnavailable):
    """The server did not answer within the statement deadline (frozen, partitioned)."""


class RoutedDatabase:
    """See the module docstring. `writer` and `reader` are opened adapters it takes over."""

    dialect: Dialect

    def __init__(
        self,
        writer: Database,
        reader: Database,
        *,
        name: str,
        max_lag_s: float,
        interval_s: float,
        probe_timeout_s: float,
        statement_timeout_s: float,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self.dialect = writer.dialect
        self.name = name
        self.max_lag_s = max_lag_s
        self.interval_s = interval_s
        self.probe_timeout_s = probe_timeout_s
        self.statement_timeout_s = statement_timeout_s
        self.retry_after_s = max(1, math.ceil(interval_s))
        self.writer_up = True
        self.writer_down_since: float | None = None
        self.reader_up = False  # until the first sample
        self.lag_s: float | None = None
        self.lag_problem: str | None = None
        self.point_reads: Executor = _RoutedReads(self, self._point)
        self.list_reads: Executor = _RoutedReads(self, self._list)
        self._monitor_task: asyncio.Task[None] | None = None
        self._queries = {
            (pool, kind): metrics.DB_QUERIES.labels(name, pool, kind)
            for pool in ("writer", "reader") for kind in ("write", "writer_read", "point", "list")
        }
        self._fallbacks = {
            reason: metrics.DB_FALLBACKS.labels(name, reason)
            for reason in ("lag", "reader_down", "writer_down")
        }
        self._lag_gauge = metrics.DB_REPLICA_LAG.labels(name)
        self._up_gauges = {
            pool: metrics.DB_POOL_UP.labels(name, pool) for pool in ("writer", "reader")
        }
        self._lag_gauge.set(math.inf)
        self._up_gauges["writer"].set(1)
        self._up_gauges["reader"].set(0)

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Sample the reader once (a reader that refuses our account or database raises
        ReaderMisconfigured), then keep watching both in the background."""
        await self._sample_reader()
        self._monitor_task = asyncio.create_task(self._monitor(), name=f"db-monitor-{self.name}")

    async def close(self) -> None:
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._monitor_task
        try:
            await self._reader.close()
        finally:
            await self._writer.close()

    # -- routing rules ------------------------------------------------------------------------
    async def _bounded(self, call: Call[T], db: Executor) -> T:
        """A server that accepts connections but never answers (frozen, partitioned) would
        hold the request forever: no statement waits longer than the deadline."""
        try:
            async with asyncio.timeout(self.statement_timeout_s):
                return await call(db)
        except TimeoutError as exc:
            raise NoAnswer(f"no answer within {self.statement_timeout_s:g} s") from exc

    def lists_on_reader(self) -> bool:
        if not self.reader_up:
            return False
        if not self.writer_up:
            return True  # stale but available
        return self.lag_s is not None and self.lag_s <= self.max_lag_s

    async def _on_writer(self, call: Call[T], kind: Kind) -> T:
        if not self.writer_up:
            raise self._writer_down_error()
        try:
            result = await self._bounded(call, self._writer)
        except DatabaseUnavailable as exc:
            self._writer_failed(exc)
            exc.retry_after_s = self.retry_after_s
            raise
        self._queries["writer", kind].inc()
        return result

    async def _on_reader_writer_down(self, call: Call[T], kind: Kind) -> T:
        """The writer is down: serve a read from the reader, however stale."""
        if not self.reader_up:
            raise self._writer_down_error()
        try:
            result = await self._bounded(call, self._reader)
        except DatabaseUnavailable as exc:
            self._reader_failed(exc)
            exc.retry_after_s = self.retry_after_s
            raise
        self._queries["reader", kind].inc()
        self._fallbacks["writer_down"].inc()
        return result

    async def _point(self, call: Call[T]) -> T:
        if self.writer_up:
            try:
                result = await self._bounded(call, self._writer)
            except DatabaseUnavailable as exc:
                self._writer_failed(exc)
                if not self.reader_up:
                    exc.retry_after_s = self.retry_after_s
                    raise
            else:
                self._queries["writer", "point"].inc()
                return result
        return await self._on_reader_writer_down(call, "point")

    async def _list(self, call: Call[T]) -> T:
        if self.lists_on_reader():
            try:
                result = await self._bounded(call, self._reader)
            except DatabaseUnavailable as exc:
                self._reader_failed(exc)
                if not self.writer_up:
                    exc.retry_after_s = self.retry_after_s
                    raise
            else:
                self._queries["reader", "list"].inc()
                return result
            reason = "reader_down"
        else:
            reason = "reader_down" if not self.reader_up else "lag"
        if self.writer_up:
            try:
                result = await self._bounded(call, self._writer)
            except DatabaseUnavailable as exc:
                self._writer_failed(exc)
                if not self.reader_up:
                    exc.retry_after_s = self.retry_after_s
                    raise
            else:
                self._queries["writer", "list"].inc()
                self._fallbacks[reason].inc()
                return result
        return await self._on_reader_writer_down(call, "list")

    # -- the Database interface: the writer's own statements ----------------------------------
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._on_writer(lambda db: db.fetch_one(sql, params), "writer_read")

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._on_writer(lambda db: db.fetch_all(sql, params), "writer_read")

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        return await self._on_writer(lambda db: db.execute(sql, params), "write")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        if not self.writer_up:
            raise self._writer_down_error()
        try:
            async with asyncio.timeout(self.statement_timeout_s):
                async with self._writer.transaction() as tx:
                    yield tx
        except TimeoutError as exc:
            error = NoAnswer(f"no answer within {self.statement_timeout_s:g} s")
            error.__cause__ = exc
            self._writer_failed(error)
            error.retry_after_s = self.retry_after_s
            raise error from exc
        except DatabaseUnavailable as exc:
            self._writer_failed(exc)
            exc.retry_after_s = self.retry_after_s
            raise
        self._queries["writer", "write"].inc()

    async def ping(self) -> None:
        await self._writer.ping()

    # -- health ---------------------------------------------------------------------------------
    def _writer_down_error(self) -> WriterDown:
        error = WriterDown("writer unavailable")
        error.retry_after_s = self.retry_after_s
        return error

    def _writer_failed(self, exc: DatabaseError) -> None:
        if not self.writer_up or not server_unreachable(exc):
            return
        self.writer_up = False
        self.writer_down_since = time.monotonic()
        self._up_gauges["writer"].set(0)
        log.warning("database writer unreachable (%s): reads go to the reader, writes answer 503 "
                    "until it answers again", error_text(exc))

    def _reader_failed(self, exc: BaseException) -> None:
        if isinstance(exc, DatabaseError) and not (
            isinstance(exc, DatabaseUnavailable) and server_unreachable(exc)
        ):
            return  # one statement refused, the server is there
        if self.reader_up:
            log.warning("database reader unreachable (%s): lists go to the writer",
                        error_text(exc) if isinstance(exc, DatabaseError) else type(exc).__name__)
        self.reader_up = False
        self.lag_s = None
        self._up_gauges["reader"].set(0)
        self._lag_gauge.set(math.inf)

    async def _sample_reader(self) -> None:
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                lag = await read_replica_lag(self._reader)
        except LagUnreadable as exc:
            if self.lag_problem is None:
                log.warning("cannot read the reader's replication lag (%s): lists stay on the "
                            "writer; grant SLAVE MONITOR (MariaDB) or REPLICATION CLIENT (MySQL)",
                            exc)
            self.lag_problem = str(exc)
            self._set_reader(up=True, lag=None)
        except DatabaseError as exc:
            if server_error_code(exc) in WRONG_URL_CODES:
                raise ReaderMisconfigured(f"DATABASE_READ_URL: {error_text(exc)}") from exc
            self._reader_failed(exc)
        except (TimeoutError, OSError) as exc:
            self._reader_failed(exc)
        else:
            self.lag_problem = None
            self._set_reader(up=True, lag=lag)

    def _set_reader(self, *, up: bool, lag: float | None) -> None:
        if up and not self.reader_up:
            log.info("database reader answers (lag %s)", "unknown" if lag is None else f"{lag:g} s")
        self.reader_up = up
        self.lag_s = lag
        self._up_gauges["reader"].set(1 if up else 0)
        self._lag_gauge.set(math.inf if lag is None else lag)

    async def _probe_writer(self) -> None:
        if self.writer_up:
            return
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                await self._writer.ping()
        except (DatabaseError, TimeoutError, OSError):
            return
        down_s = time.monotonic() - (self.writer_down_since or time.monotonic())
        self.writer_up = True
        self.writer_down_since = None
        self._up_gauges["writer"].set(1)
        log.warning("database writer answers again after %.1f s: writes resume", down_s)

    async def _monitor(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await asyncio.gather(self._sample_reader(), self._probe_writer())
            except ReaderMisconfigured as exc:
                # Credentials changed under us: keep serving from the writer, say why.
                log.error("%s: lists stay on the writer", exc)
                self._set_reader(up=False, lag=None)
            except Exception:  # the loop must outlive any surprise; the next tick retries
                log.exception("database health check failed")

    # -- /ready -----------------------------------------------------------------------------
    async def writer_status(self) -> str:
        """`ok`, or why not: a ping when believed up (a failure marks it down)."""
        if self.writer_up:
            try:
                async with asyncio.timeout(self.probe_timeout_s):
                    await self._writer.ping()
            except DatabaseError as exc:
                self._writer_failed(exc)
                return f"unavailable: {error_text(exc)}"
            except TimeoutError:
                return "unavailable: timeout"
            return "ok"
        since = time.monotonic() - (self.writer_down_since or time.monotonic())
        return (f"unavailable for {since:.0f} s: writes answer 503, reads are served by the "
                "reader")

    def reader_status(self) -> str:
        """From the last background sample."""
        if not self.reader_up:
            return "unavailable: lists are served by the writer"
        if not self.writer_up:
            lag = "unknown" if self.lag_s is None else f"{self.lag_s:g} s"
            return f"serving every read while the writer is down (lag {lag})"
        if self.lag_s is None:
            why = self.lag_problem or "replication stopped"
            return f"lag unknown ({why}): lists are served by the writer"
        if self.lag_s > self.max_lag_s:
            return (f"lagging {self.lag_s:g} s > READ_MAX_LAG_S {self.max_lag_s:g} s: lists are "
                    "served by the writer")
        return "ok"


class _RoutedReads:
    """An Executor whose reads follow one routing rule; its writes go to the writer."""

    def __init__(self, db: RoutedDatabase, route: Callable[[Call[Any]], Awaitable[Any]]) -> None:
        self._db = db
        self._route = route

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._route(lambda db: db.fetch_one(sql, params))
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._route(lambda db: db.fetch_all(sql, params))
        return rows

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        return await self._db.execute(sql, params)
