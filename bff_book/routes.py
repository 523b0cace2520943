"""Book BFF routes: exactly the Book service's, each forwarded as-is.

Only single-book GETs are reshaped for mobile clients; the list and related-books are not.
"""

from __future__ import annotations

from aiohttp import web

from libcommon.client_type import ResourceKind
from libcommon.proxy import ProxyRoute, Upstream

UPSTREAM_KEY = web.AppKey("book_service", Upstream)

ROUTES = (
    ProxyRoute("POST", "/books"),
    ProxyRoute("GET", "/books"),
    ProxyRoute("GET", "/books/isbn/{isbn}", shape_as=ResourceKind.BOOK),
    ProxyRoute("GET", "/books/{isbn}/related-books"),
    ProxyRoute("GET", "/books/{isbn}", shape_as=ResourceKind.BOOK),
    ProxyRoute("PUT", "/books/{isbn}"),
    ProxyRoute("DELETE", "/books/{isbn}"),
)

