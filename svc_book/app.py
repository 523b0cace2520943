"""Book service wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from libcommon.dbapp import DB_KEY, database_ctx
from libcommon.idempotency import purge_task_ctx
from libcommon.web import create_base_app
from svc_book.related import related_books_ctx
from svc_book.repository import BookRepository
from svc_book.routes import BOOKS_KEY, setup_routes
from svc_book.settings import Settings

OPENAPI = Path(__file__).with_name("openapi.yaml")


def _repository_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[BOOKS_KEY] = BookRepository(app[DB_KEY], idempotency_ttl_s=settings.idempotency_ttl_s)
        yield

    return ctx


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, name="svc_book", openapi=OPENAPI)
    app.cleanup_ctx.append(database_ctx("svc_book", settings))
    app.cleanup_ctx.append(_repository_ctx(settings))
    app.cleanup_ctx.append(purge_task_ctx(lambda app: app[BOOKS_KEY].keys))
    app.cleanup_ctx.append(related_books_ctx(settings))
    setup_routes(app)
    return app
