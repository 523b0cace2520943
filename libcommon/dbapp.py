"""Wiring a database into an aiohttp app: migrate (if configured), open, check, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from libcommon.db import Database, connect
from libcommon.db.traced import TracedDatabase
from libcommon.migrate import migrate_sync
from libcommon.settings import DatabaseSettings
from libcommon.tracing import is_active
from libcommon.web import add_ready_check

DB_KEY = web.AppKey("db", Database)  # type: ignore[type-abstract]


def database_ctx(
    package: str, settings: DatabaseSettings
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that puts the service's Database under `DB_KEY`."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if settings.should_migrate_on_start():
            await asyncio.to_thread(migrate_sync, package, settings.database_url)
        db = await connect(
            settings.database_url,
            pool_min=settings.db_pool_min,
            pool_max=settings.db_pool_max,
            recycle_s=settings.db_pool_recycle_s,
            connect_timeout_s=settings.db_connect_timeout_s,
        )
        # With tracing on, every statement inside a trace is a span (libcommon/db/traced.py).
        app[DB_KEY] = TracedDatabase(db, namespace=package) if is_active() else db
        add_ready_check(app, "database", db.ping)
        try:
            yield
        finally:
            await db.close()

    return ctx
