"""Wiring a database into an aiohttp app: migrate (if configured), open, check, close."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from libcommon.db import Database, connect
from libcommon.db.routing import ReaderMisconfigured, RoutedDatabase
from libcommon.db.traced import TracedDatabase
from libcommon.migrate import migrate_sync
from libcommon.settings import DatabaseSettings
from libcommon.tracing import is_active
from libcommon.web import add_ready_check

DB_KEY = web.AppKey("db", Database)  # type: ignore[type-abstract]


async def open_database(package: str, settings: DatabaseSettings) -> Database:
    """The writer alone, or writer and reader behind a RoutedDatabase (DATABASE_READ_URL).

    Raises ReaderMisconfigured when the reader refuses the URL's account or database.
    """
    options = {
        "pool_min": settings.db_pool_min,
        "pool_max": settings.db_pool_max,
        "recycle_s": settings.db_pool_recycle_s,
        "connect_timeout_s": settings.db_connect_timeout_s,
    }
    writer = await connect(settings.database_url, **options)
    reader_url = settings.reader_url()
    if reader_url is None:
        return writer
    try:
        reader = await connect(reader_url, **options)
    except BaseException:
        await writer.close()
        raise
    routed = RoutedDatabase(
        writer, reader, name=package, max_lag_s=settings.read_max_lag_s,
        interval_s=settings.db_health_interval_s,
        probe_timeout_s=min(settings.db_connect_timeout_s, 2.0),
        # "Within DB_CONNECT_TIMEOUT_S, never a hang": also for a server that accepts the
        # connection but does not answer. Our statements take milliseconds.
        statement_timeout_s=settings.db_connect_timeout_s,
    )
    try:
        await routed.start()
    except BaseException:
        await routed.close()
        raise
    return routed


def database_ctx(
    package: str, settings: DatabaseSettings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that puts the service's Database under `DB_KEY`."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if settings.should_migrate_on_start():
            await asyncio.to_thread(migrate_sync, package, settings.database_url)
        try:
            db = await open_database(package, settings)
        except ReaderMisconfigured as exc:
            # Like a bad setting: one line naming it, and the service does not start.
            print(f"configuration error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        # With tracing on, every statement inside a trace is a span (libcommon/db/traced.py).
        app[DB_KEY] = TracedDatabase(db, namespace=package) if is_active() else db
        if isinstance(db, RoutedDatabase):
            add_routed_ready_checks(app, db)
        else:
            add_ready_check(app, "database", db.ping)
        try:
            yield
        finally:
            await db.close()

    return ctx


def add_routed_ready_checks(app: web.Application, db: RoutedDatabase) -> None:
    """`database` (required): ok while the writer or the reader answers, so the service stays
    ready serving reads while only the writer is down. `database_writer` and
    `database_reader` (reported, not required) say what each is doing."""
    readiness = _RoutedReadiness(db)

    async def database() -> str:
        writer, reader = await readiness.snapshot()
        if writer == "ok" or db.reader_up:
            return "ok"
        return f"writer {writer}; reader {reader}"

    async def database_writer() -> str:
        return (await readiness.snapshot())[0]

    async def database_reader() -> str:
        return (await readiness.snapshot())[1]

    add_ready_check(app, "database", database)
    add_ready_check(app, "database_writer", database_writer, required=False)
    add_ready_check(app, "database_reader", database_reader, required=False)


class _RoutedReadiness:
    """One writer ping per /ready, however many checks (and concurrent probes) ask."""

    def __init__(self, db: RoutedDatabase) -> None:
        self._db = db
        self._pending: asyncio.Future[tuple[str, str]] | None = None

    async def _probe(self) -> tuple[str, str]:
        writer = await self._db.writer_status()
        return writer, self._db.reader_status()

    async def snapshot(self) -> tuple[str, str]:
        if self._pending is None:
            pending = asyncio.ensure_future(self._probe())
            self._pending = pending
            pending.add_done_callback(self._forget)
        # Shielded: one check timing out must not cancel the probe the others wait for.
        return await asyncio.shield(self._pending)

    def _forget(self, _future: asyncio.Future[tuple[str, str]]) -> None:
        self._pending = None
