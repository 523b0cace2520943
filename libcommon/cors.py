"""Cross-origin requests from browsers (aiohttp-cors), configured by `CORS_ALLOW_ORIGINS`.

Empty (the default): no CORS at all, as before. Otherwise a comma-separated list of origins
(`https://shop.example.com,http://localhost:5173`) or `*`. Each route of the app then answers
preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) without a token, for
the methods it has, allowing `Authorization` and the other request headers the API reads;
and every answer to an allowed origin (errors included, so a page can read a 401 or 429)
carries `Access-Control-Allow-Origin` and exposes the headers a client needs. Tokens travel
in `Authorization`, never in cookies, so credentials are not allowed.
"""

from __future__ import annotations

from collections import defaultdict

import aiohttp_cors
from aiohttp import hdrs, web
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings
from yarl import URL

ALLOWED_REQUEST_HEADERS = (
    "Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key",
    "X-Request-ID",
    # W3C trace context from browser instrumentations: the trace continues at the BFF.
    "traceparent", "tracestate",
)
EXPOSED_RESPONSE_HEADERS = (
    "Location", "ETag", "Idempotent-Replayed", "Retry-After", "RateLimit", "RateLimit-Policy",
    "X-Request-ID",
    "WWW-Authenticate",
)


def parse_origins(value: str) -> tuple[str, ...]:
    """`"https://a.example, http://localhost:5173"` -> origins; `*` -> ("*",); "" -> ()."""
    origins: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        if item == "*":
            origins.append(item)
            continue
        try:
            url = URL(item)
        except ValueError:
            raise ValueError(f"{item!r} is not an origin like https://shop.example.com") from None
        if (
            url.scheme not in ("http", "https")
            or not url.host
            or url.raw_path not in ("", "/")
            or url.query_string
            or url.fragment
            or url.user is not None
            or item.endswith("/")
        ):
            raise ValueError(f"{item!r} is not an origin such as https://shop.example.com")
        origins.append(item)
    if "*" in origins and len(origins) > 1:
        raise ValueError("'*' allows every origin: give it alone")
    return tuple(origins)


class CorsSettings(BaseSettings):
    cors_allow_origins: str = ""
    # How long a browser may reuse a preflight's answer.
    cors_max_age_s: int = Field(default=600, ge=0, le=86_400)

    @field_validator("cors_allow_origins")
    @classmethod
    def _valid_origins(cls, value: str) -> str:
        parse_origins(value)
        return value


def is_preflight(request: web.Request) -> bool:
    return (
        request.method == hdrs.METH_OPTIONS
        and hdrs.ORIGIN in request.headers
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )


async def _vary_on_origin(request: web.Request, response: web.StreamResponse) -> None:
    # The answer depends on Origin (the allowed origin is echoed): caches must know.
    if hdrs.ACCESS_CONTROL_ALLOW_ORIGIN in response.headers:
        vary = response.headers.get(hdrs.VARY)
        if vary is None:
            response.headers[hdrs.VARY] = "Origin"
        elif "origin" not in vary.lower():
            response.headers[hdrs.VARY] = f"{vary}, Origin"


def enable_cors(app: web.Application, settings: CorsSettings, exempt_paths: frozenset[str]) -> bool:
    """Add CORS to every route of `app` except `exempt_paths`; False when not configured.
    Call after all routes are added."""
    origins = parse_origins(settings.cors_allow_origins)
    if not origins:
        return False
    methods: defaultdict[web.AbstractResource, list[str]] = defaultdict(list)
    for route in app.router.routes():
        resource = route.resource
        if resource is None or resource.canonical in exempt_paths:
            continue
        methods[resource].append(route.method)
    cors = aiohttp_cors.setup(app)
    for resource, resource_methods in methods.items():
        options = aiohttp_cors.ResourceOptions(  # type: ignore[no-untyped-call]
            allow_credentials=False,
            allow_headers=ALLOWED_REQUEST_HEADERS,
            expose_headers=EXPOSED_RESPONSE_HEADERS,
            allow_methods=sorted(set(resource_methods)),
            max_age=settings.cors_max_age_s,
        )
        cors.add(resource, {origin: options for origin in origins})
    app.on_response_prepare.append(_vary_on_origin)
    return True
