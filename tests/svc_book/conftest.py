from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from svc_book.app import create_app
from svc_book.settings import Settings


@pytest.fixture
def book_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        migrate_on_start="true",
        breaker_state_file=str(tmp_path / "breaker.json"),
        access_log=False,
    )


@pytest.fixture
async def client(aiohttp_client: Any, book_settings: Settings) -> TestClient[Any, Any]:
    test_client: TestClient[Any, Any] = await aiohttp_client(create_app(book_settings))
    return test_client
