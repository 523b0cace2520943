"""A backend-for-frontend: JWT, then client type, then forwarding to one upstream service."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from libcommon.client_type import make_client_type_middleware
from libcommon.docs_page import DOCS_PATHS, add_docs_routes
from libcommon.jwt_auth import PUBLIC_PATHS, JwtSettings, JwtVerifier, make_jwt_middleware
from libcommon.proxy import ProxyRoute, ProxySettings, Upstream, add_proxy_routes, upstream_context
from libcommon.settings import ServiceSettings
from libcommon.web import add_ready_check, create_base_app
from libcommon.web.openapi import load_openapi


class BffSettings(ServiceSettings, JwtSettings, ProxySettings):
    """What every BFF reads; each adds its upstream's URL."""


def create_bff_app(
    settings: BffSettings,
    *,
    name: str,
    openapi: Path,
    upstream: Upstream,
    upstream_key: web.AppKey[Upstream],
    routes: tuple[ProxyRoute, ...],
) -> web.Application:
    verifier = JwtVerifier.from_settings(settings)
    app = create_base_app(
        settings,
        name=name,
        openapi=openapi,
        # The token is checked before the User-Agent. The docs page is public (a browser
        # cannot send a token to open it); the API it describes is not.
        middlewares=[make_jwt_middleware(verifier, PUBLIC_PATHS | DOCS_PATHS),
                     make_client_type_middleware(PUBLIC_PATHS | DOCS_PATHS)],
    )
    app[upstream_key] = upstream
    app.cleanup_ctx.append(upstream_context(upstream))
    add_ready_check(app, f"{upstream.name.lower()}_service", upstream.check)
    add_proxy_routes(app, upstream_key, routes)
    add_docs_routes(app, load_openapi(openapi))
    return app
