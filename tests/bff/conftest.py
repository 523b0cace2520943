"""BFF test wiring: a real fake upstream on loopback and BFF apps built from settings."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bff.support import BFFS, Bff, MakeClient
from tests.bff.upstream import FakeService


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
