"""Customer BFF wiring."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bff_customer.routes import ROUTES, UPSTREAM_KEY
from bff_customer.settings import Settings
from libcommon.bff import create_bff_app
from libcommon.proxy import Upstream

OPENAPI = Path(__file__).with_name("openapi.yaml")


def create_app(settings: Settings) -> web.Application:
    return create_bff_app(
        settings,
        name="bff_customer",
        openapi=OPENAPI,
        upstream=Upstream.from_settings("Customer", settings.customer_service_url, settings),
        upstream_key=UPSTREAM_KEY,
        routes=ROUTES,
        # Each sign-up costs an e-mail: its own budget (RATE_LIMIT_SIGNUPS).
        signup_routes=[("POST", "/customers")],
        no_store=True,
    )
