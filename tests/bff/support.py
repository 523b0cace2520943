"""The two BFFs as test subjects (not fixtures: those are in conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

import bff_book.app
import bff_book.settings
import bff_customer.app
import bff_customer.settings
from tests.builders import SECRET


@dataclass(frozen=True)
class Bff:
    name: str
    create_app: Callable[[Any], web.Application]
    settings_cls: type[Any]
    url_field: str
    get_path: str  # a single-resource GET forwarded upstream

    def settings(self, upstream_url: str, **overrides: Any) -> Any:
        values: dict[str, Any] = {
            "jwt_secret": SECRET,
            self.url_field: upstream_url,
            "access_log": False,
        }
        values.update(overrides)
        return self.settings_cls(**values)


BOOK_BFF = Bff(
    "book", bff_book.app.create_app, bff_book.settings.Settings, "book_service_url",
    "/books/978-0321815736",
)
CUSTOMER_BFF = Bff(
    "customer", bff_customer.app.create_app, bff_customer.settings.Settings,
    "customer_service_url", "/customers/7",
)
BFFS = [BOOK_BFF, CUSTOMER_BFF]

MakeClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]
