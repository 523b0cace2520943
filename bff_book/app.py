"""Book BFF wiring."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bff_book.routes import UPSTREAM_KEY, setup_routes
from bff_book.settings import Settings
from libcommon.client_type import make_client_type_middleware
from libcommon.jwt_auth import PUBLIC_PATHS, JwtVerifier, make_jwt_middleware
from libcommon.proxy import Upstream, upstream_context
from libcommon.web import add_ready_check, create_base_app

OPENAPI = Path(__file__).with_name("openapi.yaml")


def create_app(settings: Settings) -> web.Application:
    verifier = JwtVerifier.from_settings(settings)
    app = create_base_app(
        settings,
        name="bff_book",
        openapi=OPENAPI,
        # The token is checked before the User-Agent.
        middlewares=[make_jwt_middleware(verifier), make_client_type_middleware(PUBLIC_PATHS)],
    )
    upstream = Upstream.from_settings("Book", settings.book_service_url, settings)
    app[UPSTREAM_KEY] = upstream
    app.cleanup_ctx.append(upstream_context(upstream))
    add_ready_check(app, "book_service", upstream.check)
    setup_routes(app)
    return app
