"""Public URLs as the client addressed us (directly or through a trusted proxy)."""

from __future__ import annotations

from urllib.parse import quote, unquote

from aiohttp import web

from libcommon.forwarded import TrustedProxies
from libcommon.web.app import SETTINGS_KEY

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


def resource_path(*segments: str) -> str:
    """`/books/<ISBN>`: each segment percent-encoded."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def public_url(request: web.Request, *segments: str) -> str:
    """The public URL of a resource path; each segment is percent-encoded."""
    return public_base_url(request) + resource_path(*segments)


def query_param_plus_literal(request: web.Request, name: str) -> str | None:
    """The first `name` query parameter, percent-decoded with `+` read as `+`, not a space.

    Form decoding turns an unencoded `+` into a space; where a value cannot hold a space
    (an e-mail address), reading `+` literally is what the client meant. Bytes that are not
    UTF-8 become U+FFFD, which the value's own validation then refuses.
    """
    for part in request.rel_url.raw_query_string.split("&"):
        key, _, value = part.partition("=")
        if unquote(key) == name:
            return unquote(value, errors="replace")
    return None
