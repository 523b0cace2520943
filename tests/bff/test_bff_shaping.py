"""Client type and mobile shaping: the rule table, then every route of both BFFs."""

from __future__ import annotations

from typing import Any

import pytest

from bff_book.shaping import MOBILE_BOOK_RULES
from bff_customer.shaping import MOBILE_CUSTOMER_RULES
from libcommon.client_type import ClientType, MobileRules, client_type_of, shape
from libcommon.errors import ApiError
from tests.bff.support import BOOK_BFF, CUSTOMER_BFF, Bff, MakeClient
from tests.bff.upstream import BOOK, CUSTOMER, FakeService
from tests.builders import DESKTOP_UA, MOBILE_UA, headers

MOBILE_BOOK = {**BOOK, "genre": 3}
MOBILE_CUSTOMER = {"id": 7, "userId": "starlord+2@gmail.com", "name": "Star Lord",
                   "phone": "+14122144122"}
RELATED = [{"ISBN": "9780133065107", "title": "Clean Code", "Author": "Robert C. Martin"}]
LIST = {"items": [BOOK, {**BOOK, "ISBN": "2"}], "next": None}

# --- the rule table in isolation -----------------------------------------------------------


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (DESKTOP_UA, ClientType.DESKTOP),
        (MOBILE_UA, ClientType.MOBILE),
        ("Mobile", ClientType.MOBILE),
        ("curl/8.0", ClientType.DESKTOP),
        ("mobile lower-case", ClientType.DESKTOP),  # the contract spells it `Mobile`
    ],
)
def test_client_type_of(user_agent: str, expected: ClientType) -> None:
    assert client_type_of(user_agent) is expected


@pytest.mark.parametrize("user_agent", [None, "", "  \t"])
def test_client_type_requires_user_agent(user_agent: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        client_type_of(user_agent)
    assert caught.value.status == 400


SHAPE_TABLE: list[tuple[str, MobileRules, ClientType, str, Any, Any]] = [
    ("mobile GET book non-fiction", MOBILE_BOOK_RULES, ClientType.MOBILE, "GET", BOOK,
     MOBILE_BOOK),
    ("mobile GET book fiction", MOBILE_BOOK_RULES, ClientType.MOBILE, "GET",
     {**BOOK, "genre": "fiction"}, {**BOOK, "genre": "fiction"}),
    ("mobile GET book Non-Fiction (exact match only)", MOBILE_BOOK_RULES, ClientType.MOBILE,
     "GET", {**BOOK, "genre": "Non-Fiction"}, {**BOOK, "genre": "Non-Fiction"}),
    ("desktop GET book", MOBILE_BOOK_RULES, ClientType.DESKTOP, "GET", BOOK, BOOK),
    ("mobile PUT book", MOBILE_BOOK_RULES, ClientType.MOBILE, "PUT", BOOK, BOOK),
    ("mobile POST book", MOBILE_BOOK_RULES, ClientType.MOBILE, "POST", BOOK, BOOK),
    ("mobile GET customer", MOBILE_CUSTOMER_RULES, ClientType.MOBILE, "GET", CUSTOMER,
     MOBILE_CUSTOMER),
    ("mobile GET customer without address2", MOBILE_CUSTOMER_RULES, ClientType.MOBILE, "GET",
     {k: v for k, v in CUSTOMER.items() if k != "address2"}, MOBILE_CUSTOMER),
    ("desktop GET customer", MOBILE_CUSTOMER_RULES, ClientType.DESKTOP, "GET", CUSTOMER,
     CUSTOMER),
    ("mobile PUT customer", MOBILE_CUSTOMER_RULES, ClientType.MOBILE, "PUT", CUSTOMER,
     CUSTOMER),
    ("mobile GET list (no rules)", (), ClientType.MOBILE, "GET", LIST, LIST),
    ("mobile GET array body", MOBILE_BOOK_RULES, ClientType.MOBILE, "GET", [BOOK], [BOOK]),
]


@pytest.mark.parametrize(
    ("case", "rules", "client", "method", "body", "expected"),
    SHAPE_TABLE,
    ids=[row[0] for row in SHAPE_TABLE],
)
def test_shape(
    case: str, rules: MobileRules, client: ClientType, method: str, body: Any,
    expected: Any,
) -> None:
    original = dict(body) if isinstance(body, dict) else list(body)
    assert shape(rules, client, method, body) == expected
    assert body == original  # the input is never modified


# --- every route through the BFFs ----------------------------------------------------------

# (bff, method, path, upstream status, upstream body, user agent, expected status, expected body)
ROUTES: list[tuple[Bff, str, str, int, Any, str, int, Any]] = []
for ua, mobile in ((DESKTOP_UA, False), (MOBILE_UA, True)):
    ROUTES += [
        (BOOK_BFF, "GET", "/books/978-0321815736", 200, BOOK, ua, 200,
         MOBILE_BOOK if mobile else BOOK),
        (BOOK_BFF, "GET", "/books/isbn/978-0321815736", 200, BOOK, ua, 200,
         MOBILE_BOOK if mobile else BOOK),
        (BOOK_BFF, "GET", "/books", 200, LIST, ua, 200, LIST),
        (BOOK_BFF, "GET", "/books/978-0321815736/related-books", 200, RELATED, ua, 200, RELATED),
        (BOOK_BFF, "POST", "/books", 201, BOOK, ua, 201, BOOK),
        (BOOK_BFF, "PUT", "/books/978-0321815736", 200, BOOK, ua, 200, BOOK),
        (BOOK_BFF, "DELETE", "/books/978-0321815736", 204, None, ua, 204, None),
        (BOOK_BFF, "GET", "/books/unknown", 404, {"message": "Book not found."}, ua, 404,
         {"message": "Book not found."}),
        (CUSTOMER_BFF, "GET", "/customers/7", 200, CUSTOMER, ua, 200,
         MOBILE_CUSTOMER if mobile else CUSTOMER),
        (CUSTOMER_BFF, "GET", "/customers", 200, CUSTOMER, ua, 200,
         MOBILE_CUSTOMER if mobile else CUSTOMER),
        (CUSTOMER_BFF, "POST", "/customers", 201, CUSTOMER, ua, 201, CUSTOMER),
        (CUSTOMER_BFF, "PUT", "/customers/7", 200, CUSTOMER, ua, 200, CUSTOMER),
        (CUSTOMER_BFF, "DELETE", "/customers/7", 204, None, ua, 204, None),
        (CUSTOMER_BFF, "GET", "/customers/8", 404, {"message": "Customer not found."}, ua, 404,
         {"message": "Customer not found."}),
    ]


@pytest.mark.parametrize(
    ("bff", "method", "path", "up_status", "up_body", "ua", "status", "expected"),
    ROUTES,
    ids=[f"{r[1]} {r[2]} {'mobile' if r[5] == MOBILE_UA else 'desktop'}" for r in ROUTES],
)
async def test_route_shaping(
    make_client: MakeClient, upstream: FakeService, bff: Bff, method: str, path: str,
    up_status: int, up_body: Any, ua: str, status: int, expected: Any,
) -> None:
    upstream.answer(method, path, up_status, json=up_body)
    client = await make_client(bff)
    body = BOOK if bff is BOOK_BFF else CUSTOMER
    response = await client.request(
        method, path, headers=headers(ua=ua), json=body if method in ("POST", "PUT") else None
    )
    assert response.status == status
    if expected is None:
        assert await response.read() == b""
    else:
        assert response.headers["Content-Type"].startswith("application/json")
        assert await response.json() == expected
    assert [(seen.method, seen.raw_path) for seen in upstream.seen] == [(method, path)]


async def test_desktop_body_is_relayed_byte_for_byte(
    make_client: MakeClient, upstream: FakeService
) -> None:
    raw = b'{"ISBN":"1","price":10.50,"genre":"non-fiction"}'
    upstream.answer("GET", "/books/1", body=raw)
    client = await make_client(BOOK_BFF)
    response = await client.get("/books/1", headers=headers())
    assert await response.read() == raw


@pytest.mark.parametrize(
    "path",
    ["/books/1", "/books/isbn/1", "/books", "/books/1/related-books"],
)
async def test_book_routes_not_on_customer_bff(make_client: MakeClient, path: str) -> None:
    client = await make_client(CUSTOMER_BFF)
    response = await client.get(path, headers=headers())
    assert response.status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("PATCH", "/books/1"), ("POST", "/books/1"), ("DELETE", "/books"), ("PUT", "/books")],
)
async def test_methods_the_service_lacks_are_405(
    make_client: MakeClient, upstream: FakeService, method: str, path: str
) -> None:
    client = await make_client(BOOK_BFF)
    response = await client.request(method, path, headers=headers())
    assert response.status == 405
    assert upstream.seen == []
