"""Request-level failures (JSON, content type, size) reach the client as JSON errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from svc_customer.app import create_app
from svc_customer.settings import Settings
from tests.builders import customer

Client = TestClient[web.Request, web.Application]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def sqlite_client(aiohttp_client: Any, tmp_path: Path) -> Client:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/c.db", access_log=False)
    client: Client = await aiohttp_client(create_app(settings))
    return client


@pytest.mark.parametrize("method", ["post", "put"])
async def test_malformed_non_object_empty_wrong_type_and_huge(
    sqlite_client: Client, method: str
) -> None:
    created = await sqlite_client.post("/customers", json=customer())
    path = "/customers" if method == "post" else f"/customers/{(await created.json())['id']}"
    send = getattr(sqlite_client, method)
    cases = [
        (b'{"userId": ', JSON, 400),
        (b"[1, 2]", JSON, 400),
        (b'"a@x.io"', JSON, 400),
        (b"null", JSON, 400),
        (b"", JSON, 400),
        (b"\xff\xfe", JSON, 400),
        (b'{"name": "\\ud800"}', JSON, 400),  # a lone surrogate is not UTF-8 text
        (b"userId=a@x.io", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b"{}", {"Content-Type": "text/plain"}, 415),
        (b"x" * (1024 * 1024 + 10), JSON, 413),
    ]
    for data, headers, status in cases:
        response = await send(path, data=data, headers=headers)
        assert response.status == status, (data[:20], headers)
        body = await response.json()
        assert isinstance(body["message"], str) and body["message"]
        assert "Traceback" not in str(body)


async def test_json_suffix_content_type_is_accepted(sqlite_client: Client) -> None:
    import orjson

    response = await sqlite_client.post(
        "/customers", data=orjson.dumps(customer()),
        headers={"Content-Type": "application/merge-patch+json; charset=utf-8"},
    )
    assert response.status == 201


async def test_invalid_fields_are_listed(sqlite_client: Client) -> None:
    response = await sqlite_client.post(
        "/customers", json=customer("bad", name=" ", state="zz", phone=5551234)
    )
    assert response.status == 400
    body = await response.json()
    assert {e["field"] for e in body["errors"]} == {"userId", "name", "state", "phone"}
