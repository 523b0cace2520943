"""CRM wiring: database (dedupe table), mail transport, Kafka consumer; HTTP for health only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from crm.consumer import CrmConsumer
from crm.mail import create_mailer
from crm.settings import Settings
from libcommon.dbapp import DB_KEY, database_ctx
from libcommon.web import add_ready_check, create_base_app

OPENAPI = Path(__file__).with_name("openapi.yaml")
CONSUMER_KEY = web.AppKey("crm_consumer", CrmConsumer)


def _consumer_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        mailer = create_mailer(settings)
        consumer = CrmConsumer(settings, app[DB_KEY], mailer)
        app[CONSUMER_KEY] = consumer
        add_ready_check(app, "kafka", consumer.ready_check)
        # Connects in the background: the HTTP side is up even while the broker is not.
        await consumer.start()
        try:
            yield
        finally:
            await consumer.stop()
            await mailer.close()

    return ctx


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, name="crm", openapi=OPENAPI)
    app.cleanup_ctx.append(database_ctx("crm", settings))
    app.cleanup_ctx.append(_consumer_ctx(settings))
    return app
