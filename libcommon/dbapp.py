"""Wiring a database into an aiohttp app: migrate (if configured), open, check, close."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from libcommon.db import Database, connect
from libcommon.db.routing import ReaderMisconfigured, RoutedDatabase
from libcommon.migrate import migrate_sync
from libcommon.settings import DatabaseSettings
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
        app[DB_KEY] = db
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
    """`database`: ok while either server serves reads (writer down: ready, reads from the
    reader, writes 503); `database_writer`/`database_reader`: each one's state."""
    writer_state: dict[str, str] = {}

    async def database() -> str:
        writer_state["last"] = await db.writer_status()
        if writer_state["last"] == "ok" or db.reader_up:
            return "ok"
        return f"writer {writer_state['last']}; reader {db.reader_status()}"

    add_ready_check(app, "database", database)
