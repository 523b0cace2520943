"""Public URLs as the client addressed us (directly or through a trusted proxy)."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from libcommon.forwarded import TrustedProxies
from libcommon.web import SETTINGS_KEY

_NO_PROXIES = TrustedProxies()


def _server_authority(request: web.Request) -> str:
    # The address the client connected to: used when its Host header is missing or invalid.
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return "localhost"
    host, port = str(sockname[0]), int(sockname[1])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def public_base_url(request: web.Request) -> str:
    """`scheme://host` of the request: X-Forwarded-Proto / X-Forwarded-Host only from a proxy
    listed in FORWARDED_ALLOW_IPS, and a host only when it is a plain host[:port] (so a
    header can neither inject a path nor an impossible port)."""
    settings = request.app.get(SETTINGS_KEY)
    proxies = settings.forwarded_allow_ips if settings is not None else _NO_PROXIES
    host = proxies.host(request) or _server_authority(request)
    return f"{proxies.scheme(request)}://{host}"


def public_url(request: web.Request, *segments: str) -> str:
    """The public URL of a resource path; each segment is percent-encoded."""
    path = "/".join(quote(segment, safe="") for segment in segments)
    return f"{public_base_url(request)}/{path}"
