"""Customer service wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from libcommon.dbapp import DB_KEY, database_ctx
from libcommon.outbox.app import outbox_relay_ctx
from libcommon.web import create_base_app
from svc_customer.repository import CustomerRepository
from svc_customer.routes import CUSTOMERS_KEY, setup_routes
from svc_customer.settings import Settings

OPENAPI = Path(__file__).with_name("openapi.yaml")


def _repository_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[CUSTOMERS_KEY] = CustomerRepository(app[DB_KEY], topic=settings.kafka_customer_topic)
        yield

    return ctx


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, name="svc_customer", openapi=OPENAPI)
    app.cleanup_ctx.append(database_ctx("svc_customer", settings))
    app.cleanup_ctx.append(_repository_ctx(settings))
    # After the database's context: the relay stops before the database closes.
    app.cleanup_ctx.append(outbox_relay_ctx(settings, DB_KEY, client_id="svc_customer"))
    setup_routes(app)
    return app
