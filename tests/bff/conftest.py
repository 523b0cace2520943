"""BFF test wiring: a real fake upstream on loopback and BFF apps built from settings."""

from __future__ import annotations

import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from jwt.warnings import InsecureKeyLengthWarning

import bff_book.app
import bff_book.settings
import bff_customer.app
import bff_customer.settings
from tests.bff.upstream import FakeService

SECRET = "bff-test-secret-0123456789-abcdefghij"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) AppleWebKit/605.1 Mobile/15E148"
DROP = object()  # a claim value meaning "leave the claim out"


def make_token(
    *, secret: str | bytes | Any = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    payload: dict[str, Any] = {"sub": "starlord", "iss": "cmu.edu", "exp": time.time() + 3600}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not DROP}
    with warnings.catch_warnings():
        # HS512 with the 37-byte test secret: short for SHA-512, which is the point of the test.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm=algorithm)


def headers(token: str | None = None, ua: str | None = DESKTOP_UA, **extra: str) -> dict[str, str]:
    result = dict(extra)
    result["Authorization"] = f"Bearer {token if token is not None else make_token()}"
    if ua is not None:
        result["User-Agent"] = ua
    return result


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


@pytest.fixture
async def upstream(aiohttp_server: Any) -> FakeService:
    fake = FakeService()
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@pytest.fixture
def make_client(aiohttp_client: Any, upstream: FakeService) -> MakeClient:
    async def factory(bff: Bff, upstream_url: str | None = None, **overrides: Any) -> Any:
        settings = bff.settings(upstream_url or upstream.base_url, **overrides)
        return await aiohttp_client(bff.create_app(settings))

    return factory


@pytest.fixture(params=BFFS, ids=lambda bff: bff.name)
def bff(request: pytest.FixtureRequest) -> Bff:
    param: Bff = request.param
    return param
