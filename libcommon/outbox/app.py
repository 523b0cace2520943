"""The relay as an aiohttp cleanup context, with its ready check."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from libcommon.db import Database
from libcommon.outbox.relay import OutboxRelay
from libcommon.outbox.settings import OutboxSettings
from libcommon.web import add_ready_check

OUTBOX_RELAY_KEY = web.AppKey("outbox_relay", OutboxRelay)


def outbox_relay_ctx(
    settings: OutboxSettings,
    db_key: web.AppKey[Database],
    *,
    client_id: str,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context (after the database's) that runs a relay, stored under
    `OUTBOX_RELAY_KEY`, and registers its ready check as "outbox"."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        relay = OutboxRelay.from_settings(app[db_key], settings, client_id=client_id)
        app[OUTBOX_RELAY_KEY] = relay
        add_ready_check(app, "outbox", relay.ready_check)
        await relay.start()
        try:
            yield
        finally:
            await relay.stop()

    return ctx
