"""Customer BFF routes: exactly the Customer service's, each forwarded as-is.

Single-customer GETs (by id, or by `?userId=`) are reshaped for mobile clients.
"""

from __future__ import annotations

from aiohttp import web

from libcommon.client_type import ResourceKind
from libcommon.proxy import ProxyRoute, Upstream

UPSTREAM_KEY = web.AppKey("customer_service", Upstream)

ROUTES = (
    ProxyRoute("POST", "/customers"),
    ProxyRoute("GET", "/customers", shape_as=ResourceKind.CUSTOMER),
    ProxyRoute("GET", "/customers/{id}", shape_as=ResourceKind.CUSTOMER),
    ProxyRoute("PUT", "/customers/{id}"),
    ProxyRoute("DELETE", "/customers/{id}"),
)

