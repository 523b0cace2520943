"""The reference recommendation engine: recommendations plus a run-time delay knob."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from libcommon.jsonio import json_response, read_json
from libcommon.validation import parse_model
from libcommon.web import create_base_app
from recommender.catalog import Catalog
from recommender.settings import MAX_DELAY_MS, Settings

OPENAPI = Path(__file__).with_name("openapi.yaml")


@dataclass
class Delay:
    ms: int


class DelayBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ms: StrictInt = Field(ge=0, le=MAX_DELAY_MS)


Sleep = Callable[[float], Awaitable[None]]

CATALOG_KEY = web.AppKey("catalog", Catalog)
DELAY_KEY = web.AppKey("delay", Delay)
# Injected: a test records the delay it would wait instead of measuring the wall clock.
SLEEP_KEY: web.AppKey[Sleep] = web.AppKey("sleep")


async def recommended_titles(request: web.Request) -> web.StreamResponse:
    delay_ms = request.app[DELAY_KEY].ms
    if delay_ms:
        await request.app[SLEEP_KEY](delay_ms / 1000)
    titles = request.app[CATALOG_KEY].recommend(request.match_info["isbn"])
    if not titles:
        return web.Response(status=204)
    return json_response([t.to_json() for t in titles])


async def get_delay(request: web.Request) -> web.Response:
    return json_response({"ms": request.app[DELAY_KEY].ms})


async def put_delay(request: web.Request) -> web.Response:
    body = parse_model(DelayBody, await read_json(request))
    request.app[DELAY_KEY].ms = body.ms
    return json_response({"ms": body.ms})


def create_app(
    settings: Settings, catalog: Catalog | None = None, sleep: Sleep = asyncio.sleep
) -> web.Application:
    app = create_base_app(settings, name="recommender", openapi=OPENAPI)
    app[CATALOG_KEY] = catalog or Catalog.load()
    app[SLEEP_KEY] = sleep
    app[DELAY_KEY] = Delay(settings.recommender_delay_ms)
    app.router.add_get("/recommended-titles/isbn/{isbn}", recommended_titles)
    app.router.add_get("/delay", get_delay)
    app.router.add_put("/delay", put_delay)
    return app
