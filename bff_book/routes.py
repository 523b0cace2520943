"""Book BFF routes: exactly the Book service's, each forwarded as-is.

Only single-book GETs are reshaped for mobile clients; the list and related-books are not.
"""

from __future__ import annotations

from aiohttp import web

from bff_book.shaping import MOBILE_BOOK_RULES
from libcommon.proxy import ProxyRoute, Upstream

UPSTREAM_KEY = web.AppKey("book_service", Upstream)

ROUTES = (
    ProxyRoute("POST", "/books"),
    ProxyRoute("GET", "/books"),
    ProxyRoute("GET", "/books/isbn/{isbn}", mobile_rules=MOBILE_BOOK_RULES),
    ProxyRoute("GET", "/books/{isbn}/related-books"),
    ProxyRoute("GET", "/books/{isbn}", mobile_rules=MOBILE_BOOK_RULES),
    ProxyRoute("PUT", "/books/{isbn}"),
    ProxyRoute("DELETE", "/books/{isbn}"),
)

