from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from libcommon.db import Database, connect
from svc_customer.app import create_app
from svc_customer.settings import Settings

Client = TestClient[web.Request, web.Application]


@pytest.fixture
def customer_settings(database_url: str) -> Settings:
    # Nothing listens on port 9: the relay keeps retrying, rows stay pending.
    return Settings(database_url=database_url, migrate_on_start="true", access_log=False,
                    kafka_bootstrap_servers="127.0.0.1:9")


@pytest.fixture
async def client(aiohttp_client: Any, customer_settings: Settings) -> Client:
    test_client: Client = await aiohttp_client(create_app(customer_settings))
    return test_client


@pytest.fixture
async def db(client: Client, customer_settings: Settings) -> AsyncIterator[Database]:
    """A second connection to the app's database, to look at the rows directly."""
    database = await connect(customer_settings.database_url)
    yield database
    await database.close()
