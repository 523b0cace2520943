"""Each validation rule of the contract, in isolation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from svc_book.models import Book
from tests.builders import book


@pytest.mark.parametrize(
    ("price", "expected"),
    [(10, Decimal("10")), (10.5, Decimal("10.5")), (59.95, Decimal("59.95")), (0, Decimal("0")),
     ("12.30", Decimal("12.3")), ("7", Decimal("7")), (10.50, Decimal("10.5")),
     (99999999.99, Decimal("99999999.99"))],
)
def test_valid_prices(price: Any, expected: Decimal) -> None:
    assert Book.model_validate(book(price=price)).price == expected


@pytest.mark.parametrize(
    "price",
    [1.999, -1, "abc", True, False, None, "", "-1", "1e2", " 5", "10.999", [], {}, 1e300,
     100000000, "NaN"],
)
def test_invalid_prices(price: Any) -> None:
    with pytest.raises(ValidationError):
        Book.model_validate(book(price=price))


@pytest.mark.parametrize(("quantity", "expected"), [(0, 0), (5, 5), (5.0, 5), (2147483647, 2147483647)])
def test_valid_quantities(quantity: Any, expected: int) -> None:
    assert Book.model_validate(book(quantity=quantity)).quantity == expected


@pytest.mark.parametrize("quantity", [5.5, -1, "x", "5", True, None, 2147483648])
def test_invalid_quantities(quantity: Any) -> None:
    with pytest.raises(ValidationError):
        Book.model_validate(book(quantity=quantity))


@pytest.mark.parametrize("isbn", ["222-1114567890", "978-0-321-55268-6", "X", "a" * 20, "978:x"])
def test_valid_isbns(isbn: str) -> None:
    assert Book.model_validate(book(isbn)).isbn == isbn


@pytest.mark.parametrize("isbn", ["", "a" * 21, "978 0321", "978/0321", " 978", "978\n", "\t", 978])
def test_invalid_isbns(isbn: Any) -> None:
    with pytest.raises(ValidationError):
        Book.model_validate(book(isbn))


@pytest.mark.parametrize("field", ["ISBN", "title", "Author", "description", "genre", "price", "quantity"])
def test_every_field_is_required(field: str) -> None:
    body = book()
    del body[field]
    with pytest.raises(ValidationError):
        Book.model_validate(body)


@pytest.mark.parametrize("field", ["title", "Author", "description", "genre"])
@pytest.mark.parametrize("value", ["", "   ", "\t\n", 42, None, ["x"]])
def test_strings_must_be_non_empty_strings(field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        Book.model_validate(book(**{field: value}))


def test_strings_are_trimmed_and_unknown_fields_ignored() -> None:
    parsed = Book.model_validate(book(title="  Dune  ", extra="ignored", id=7))
    assert parsed.title == "Dune"
    assert "extra" not in parsed.to_json()


def test_lowercase_author_key_is_not_author() -> None:
    body = book()
    body["author"] = body.pop("Author")
    with pytest.raises(ValidationError):
        Book.model_validate(body)
