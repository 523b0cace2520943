"""The shared app and database failures: 503 with Retry-After, and /ready checks that are
reported without making the service unready (the database writer while a reader serves)."""

from __future__ import annotations

from typing import Any

import pymysql
from aiohttp import web

from libcommon.db import DatabaseUnavailable
from libcommon.db.routing import WriterDown
from libcommon.settings import ServiceSettings
from libcommon.web import add_ready_check, create_base_app


def make_app() -> web.Application:
    app = create_base_app(ServiceSettings(access_log=False), name="test")

    async def lost(request: web.Request) -> web.Response:
        try:
            raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
        except pymysql.err.OperationalError as exc:
            raise DatabaseUnavailable("OperationalError") from exc

    async def writer_down(request: web.Request) -> web.Response:
        error = WriterDown("writer unavailable")
        error.retry_after_s = 3
        raise error

    app.router.add_get("/lost", lost)
    app.router.add_post("/write", writer_down)
    return app


async def test_database_unavailable_is_503_with_retry_after(aiohttp_client: Any, caplog: Any) -> None:
    client = await aiohttp_client(make_app())
    lost = await client.get("/lost")
    assert lost.status == 503
    assert lost.headers["Retry-After"] == "1"
    assert await lost.json() == {"message": "Database unavailable, try again later."}
    refused = await client.post("/write")
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "3"
    # One line per failure, saying why, without a traceback (an outage would flood the log).
    lines = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert "2013 Lost connection" in lines[0].getMessage()
    assert all(r.exc_info is None for r in lines)


async def test_ready_reports_informational_checks_without_failing(aiohttp_client: Any) -> None:
    app = make_app()

    async def ok() -> str:
        return "ok"

    async def down() -> str:
        return "unavailable for 3 s: writes answer 503, reads are served by the reader"

    add_ready_check(app, "database", ok)
    add_ready_check(app, "database_writer", down, required=False)
    client = await aiohttp_client(app)
    response = await client.get("/ready")
    assert response.status == 200
    body = await response.json()
    assert body == {"status": "ok", "checks": {
        "database": "ok",
        "database_writer": "unavailable for 3 s: writes answer 503, reads are served by the reader",
    }}
    add_ready_check(app, "database_writer", down)  # required again: now it counts
    assert (await client.get("/ready")).status == 503
