"""Public URLs as the client addressed us (directly or through a proxy)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web


def public_base_url(request: web.Request) -> str:
    """`scheme://host` of the request, honouring X-Forwarded-Proto / X-Forwarded-Host."""
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    scheme = proto if proto in ("http", "https") else request.scheme
    return f"{scheme}://{host or request.host}"


def public_url(request: web.Request, *segments: str) -> str:
    """The public URL of a resource path; each segment is percent-encoded."""
    path = "/".join(quote(segment, safe="") for segment in segments)
    return f"{public_base_url(request)}/{path}"
