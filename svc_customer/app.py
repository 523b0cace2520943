"""Customer service wiring."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from libcommon.dbapp import DB_KEY, database_ctx
from libcommon.idempotency import purge_task_ctx
from libcommon.outbox.app import OUTBOX_RELAY_KEY, outbox_relay_ctx
from libcommon.outbox.unit_of_work import OutboxUnitOfWork
from libcommon.web import create_base_app
from svc_customer.repository import CustomerRepository
from svc_customer.routes import CUSTOMERS_KEY, setup_routes
from svc_customer.settings import Settings

OPENAPI = Path(__file__).with_name("openapi.yaml")


def _repository_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """After the relay's context: a registration's after-commit hook wakes the relay."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        db = app[DB_KEY]
        unit_of_work = OutboxUnitOfWork(db, after_commit=app[OUTBOX_RELAY_KEY].notify)
        app[CUSTOMERS_KEY] = CustomerRepository(
            db, unit_of_work, topic=settings.kafka_customer_topic,
            idempotency_ttl_s=settings.idempotency_ttl_s,
        )
        yield

    return ctx


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, name="svc_customer", openapi=OPENAPI)
    app.cleanup_ctx.append(database_ctx("svc_customer", settings))
    # After the database's context: the relay stops before the database closes.
    app.cleanup_ctx.append(outbox_relay_ctx(settings, DB_KEY, client_id="svc_customer"))
    app.cleanup_ctx.append(_repository_ctx(settings))
    app.cleanup_ctx.append(purge_task_ctx(lambda app: app[CUSTOMERS_KEY].keys))
    setup_routes(app)
    return app
