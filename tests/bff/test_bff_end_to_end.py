"""BFF -> service -> MariaDB: both BFFs in front of the real services on loopback sockets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

import svc_book.app
import svc_book.settings
import svc_customer.app
import svc_customer.settings
from tests.bff.support import BOOK_BFF, CUSTOMER_BFF
from tests.bff.upstream import BOOK, CUSTOMER
from tests.builders import MOBILE_UA, headers

pytestmark = pytest.mark.mariadb


async def test_books_through_the_bff(
    aiohttp_server: Any, aiohttp_client: Any, mysql_database: Callable[[], str], tmp_path: Path
) -> None:
    service_settings = svc_book.settings.Settings(
        database_url=mysql_database(), migrate_on_start="true", access_log=False,
        breaker_state_file=str(tmp_path / "breaker.json"),
    )
    service = await aiohttp_server(svc_book.app.create_app(service_settings))
    bff = await aiohttp_client(
        BOOK_BFF.create_app(BOOK_BFF.settings(str(service.make_url("")).rstrip("/")))
    )
    mobile = headers(ua=MOBILE_UA, **{"X-Request-ID": "e2e-book-1"})

    created = await bff.post("/books", json=BOOK, headers=mobile)
    assert created.status == 201
    assert await created.json() == BOOK  # POST responses are never reshaped
    assert created.headers["Location"] == f"http://127.0.0.1:{bff.port}/books/{BOOK['ISBN']}"
    assert created.headers["X-Request-ID"] == "e2e-book-1"

    duplicate = await bff.post("/books", json=BOOK, headers=mobile)
    assert duplicate.status == 422
    assert await duplicate.json() == {"message": "This ISBN already exists in the system."}

    for path in (f"/books/{BOOK['ISBN']}", f"/books/isbn/{BOOK['ISBN']}"):
        on_mobile = await bff.get(path, headers=mobile)
        assert (await on_mobile.json())["genre"] == 3
        on_desktop = await bff.get(path, headers=headers())
        assert await on_desktop.json() == BOOK

    listed = await bff.get("/books?genre=non-fiction", headers=mobile)
    assert (await listed.json())["items"] == [BOOK]

    updated = await bff.put(
        f"/books/{BOOK['ISBN']}", json={**BOOK, "quantity": 1}, headers=mobile
    )
    assert updated.status == 200
    assert await updated.json() == {**BOOK, "quantity": 1}

    invalid = await bff.post("/books", json={**BOOK, "ISBN": "x", "price": 1.999}, headers=mobile)
    assert invalid.status == 400

    deleted = await bff.delete(f"/books/{BOOK['ISBN']}", headers=mobile)
    assert deleted.status == 204
    missing = await bff.get(f"/books/{BOOK['ISBN']}", headers=mobile)
    assert missing.status == 404

    no_token = await bff.get(f"/books/{BOOK['ISBN']}", headers={"User-Agent": "x"})
    assert no_token.status == 401

    ready = await bff.get("/ready")
    assert ready.status == 200


@pytest.fixture(params=["mysql", "sqlite"])
def customer_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/customers.db"
    make: Callable[[], str] = request.getfixturevalue("mysql_database")
    return make()


async def test_customers_through_the_bff(
    aiohttp_server: Any, aiohttp_client: Any, customer_database_url: str
) -> None:
    service_settings = svc_customer.settings.Settings(
        database_url=customer_database_url, migrate_on_start="true", access_log=False
    )
    service = await aiohttp_server(svc_customer.app.create_app(service_settings))
    bff = await aiohttp_client(
        CUSTOMER_BFF.create_app(CUSTOMER_BFF.settings(str(service.make_url("")).rstrip("/")))
    )
    new = {k: v for k, v in CUSTOMER.items() if k != "id"}
    address_fields = {"address", "address2", "city", "state", "zipcode"}

    created = await bff.post("/customers", json=new, headers=headers(ua=MOBILE_UA))
    assert created.status == 201
    body = await created.json()
    assert address_fields <= set(body)
    customer_id = body["id"]
    assert created.headers["Location"] == f"http://127.0.0.1:{bff.port}/customers/{customer_id}"

    on_mobile = await bff.get(f"/customers/{customer_id}", headers=headers(ua=MOBILE_UA))
    assert await on_mobile.json() == {
        "id": customer_id, "userId": new["userId"], "name": new["name"], "phone": new["phone"]
    }
    on_desktop = await bff.get(f"/customers/{customer_id}", headers=headers())
    assert await on_desktop.json() == body

    # `+` sent as %2B must reach the service intact (a literal + would mean a space).
    by_user_id = URL(
        f"http://127.0.0.1:{bff.port}/customers?userId=starlord%2B2%40gmail.com", encoded=True
    )
    async with bff.session.get(by_user_id, headers=headers(ua=MOBILE_UA)) as found:
        assert found.status == 200
        assert (await found.json())["id"] == customer_id
        assert not address_fields & set(await found.json())

    bad_id = await bff.get("/customers/abc", headers=headers())
    assert bad_id.status == 400
    deleted = await bff.delete(f"/customers/{customer_id}", headers=headers())
    assert deleted.status == 204
    gone = await bff.get(f"/customers/{customer_id}", headers=headers())
    assert gone.status == 404
