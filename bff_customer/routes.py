"""Customer BFF routes: exactly the Customer service's, each forwarded as-is.

Single-customer GETs (by id, or by `?userId=`) are reshaped for mobile clients.
"""

from __future__ import annotations

from aiohttp import web

from bff_customer.shaping import MOBILE_CUSTOMER_RULES
from libcommon.proxy import ProxyRoute, Upstream

UPSTREAM_KEY = web.AppKey("customer_service", Upstream)

ROUTES = (
    ProxyRoute("POST", "/customers"),
    ProxyRoute("GET", "/customers", mobile_rules=MOBILE_CUSTOMER_RULES),
    ProxyRoute("GET", "/customers/{id}", mobile_rules=MOBILE_CUSTOMER_RULES),
    ProxyRoute("PUT", "/customers/{id}"),
    ProxyRoute("DELETE", "/customers/{id}"),
)

