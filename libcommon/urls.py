"""Public URLs as the client addressed us (directly or through a proxy)."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from aiohttp import web

_VALID_FORWARDED_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_FORWARDED_PROTOS = frozenset({"http", "https"})


def _first(value: str) -> str:
    # Proxies append: "https, http" -> the client-facing one is first.
    return value.partition(",")[0].strip()


def public_base_url(request: web.Request) -> str:
    """`scheme://host` of the request, honouring X-Forwarded-Proto / X-Forwarded-Host (a host
    that is not a plain host[:port] is ignored, so a header cannot inject a path)."""
    scheme = request.scheme
    proto = _first(request.headers.get("X-Forwarded-Proto", "")).lower()
    if proto in _FORWARDED_PROTOS:
        scheme = proto
    host = request.host
    forwarded_host = _first(request.headers.get("X-Forwarded-Host", ""))
    if forwarded_host and _VALID_FORWARDED_HOST.match(forwarded_host):
        host = forwarded_host
    return f"{scheme}://{host}"


def public_url(request: web.Request, *segments: str) -> str:
    """The public URL of a resource path; each segment is percent-encoded."""
    path = "/".join(quote(segment, safe="") for segment in segments)
    return f"{public_base_url(request)}/{path}"


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
