"""A backend-for-frontend: the public edge in front of one upstream service.

Middlewares, in order: the shared core (request id, JSON errors, metrics, access log), the
client address's request budget, the JWT check (CORS preflights pass without a token), the
token subject's budget, then the client type (User-Agent) before forwarding upstream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Middleware

from libcommon.client_type import make_client_type_middleware
from libcommon.cors import CorsSettings, enable_cors, is_preflight
from libcommon.docs_page import DOCS_PATHS, add_docs_routes
from libcommon.jwt_auth import (
    CLAIMS_KEY,
    PUBLIC_PATHS,
    JwtSettings,
    JwtVerifier,
    make_jwt_middleware,
)
from libcommon.proxy import ProxyRoute, ProxySettings, Upstream, add_proxy_routes, upstream_context
from libcommon.ratelimit import KeyKind, RateLimiter, RateLimitSettings, make_rate_limit_middleware
from libcommon.settings import ServiceSettings
from libcommon.web import add_ready_check, create_base_app
from libcommon.web.openapi import load_openapi


class BffSettings(ServiceSettings, JwtSettings, ProxySettings, RateLimitSettings, CorsSettings):
    """What every BFF reads; each adds its upstream's URL."""


RATE_LIMITER_KEY = web.AppKey("rate_limiter", RateLimiter)


def _token_subject(request: web.Request) -> str | None:
    claims = request.get(CLAIMS_KEY)
    subject = claims.get("sub") if claims is not None else None
    return subject if isinstance(subject, str) else None


ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def _make_response_headers_hook(no_store: bool, exempt_paths: frozenset[str]) -> ResponseHook:
    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        # Browsers must not guess another type than the declared JSON (or text) one.
        headers["X-Content-Type-Options"] = "nosniff"
        if no_store and request.path not in exempt_paths:
            # Personal data: neither the browser nor any cache in between keeps a copy.
            headers.setdefault("Cache-Control", "no-store")

    return add_headers


def create_bff_app(
    settings: BffSettings,
    *,
    name: str,
    openapi: Path,
    upstream: Upstream,
    upstream_key: web.AppKey[Upstream],
    routes: tuple[ProxyRoute, ...],
    signup_routes: Iterable[tuple[str, str]] = (),
    no_store: bool = False,
) -> web.Application:
    """`signup_routes`: (method, path) charged to the sign-up budget (RATE_LIMIT_SIGNUPS);
    `no_store`: every answer carries `Cache-Control: no-store` (personal data)."""
    verifier = JwtVerifier.from_settings(settings)
    cors_enabled = bool(settings.cors_allow_origins.strip())
    # The docs page is public (a browser cannot send a token to open it); the API it
    # describes is not.
    no_token_paths = PUBLIC_PATHS | DOCS_PATHS
    jwt_middleware = make_jwt_middleware(
        verifier, no_token_paths, needs_no_token=is_preflight if cors_enabled else None
    )
    limiter = RateLimiter(settings, name)
    middlewares: list[Middleware] = [jwt_middleware]
    if limiter.enabled:
        signups = tuple(signup_routes)
        middlewares = [
            make_rate_limit_middleware(
                # X-Forwarded-For only from FORWARDED_ALLOW_IPS (libcommon.forwarded).
                limiter, KeyKind.ADDRESS, settings.forwarded_allow_ips.client_address,
                exempt_paths=PUBLIC_PATHS, signup_routes=signups,
            ),
            jwt_middleware,
            make_rate_limit_middleware(
                limiter, KeyKind.SUBJECT, _token_subject,
                exempt_paths=PUBLIC_PATHS, signup_routes=signups,
            ),
        ]
    app = create_base_app(
        settings,
        name=name,
        openapi=openapi,
        # The token is checked before the User-Agent.
        middlewares=[*middlewares, make_client_type_middleware(no_token_paths)],
    )
    if limiter.enabled:
        app[RATE_LIMITER_KEY] = limiter
        app.cleanup_ctx.append(limiter.context)
    app[upstream_key] = upstream
    app.cleanup_ctx.append(upstream_context(upstream))
    add_ready_check(app, f"{upstream.name.lower()}_service", upstream.check)
    add_proxy_routes(app, upstream_key, routes)
    add_docs_routes(app, load_openapi(openapi))
    app.on_response_prepare.append(_make_response_headers_hook(no_store, no_token_paths))
    enable_cors(app, settings, exempt_paths=no_token_paths)
    return app
