"""Book validation exactly as the contract says (see openapi.yaml for the limits chosen)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from libcommon.jsonio import dumps

ISBN_PATTERN = re.compile(r"^[^\s/]{1,20}$")
# A numeric string price: digits with an optional fraction (no sign, exponent or spaces).
PRICE_STRING = re.compile(r"^[0-9]{1,8}(\.[0-9]*)?$")
MAX_PRICE = Decimal("99999999.99")  # DECIMAL(10,2)
MAX_QUANTITY = 2_147_483_647  # INT
CENT = Decimal("0.01")


def is_valid_isbn(value: str) -> bool:
    return bool(ISBN_PATTERN.fullmatch(value))


def _isbn(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("ISBN must be a string")
    if not is_valid_isbn(value):
        raise ValueError("ISBN must be 1-20 characters without whitespace or '/'")
    return value


def _price(value: Any) -> Decimal:
    # bool is an int in Python; the contract rejects `true`.
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("price must be a number")
    if isinstance(value, str) and not PRICE_STRING.fullmatch(value):
        raise ValueError("price must be a number")
    try:
        price = value if isinstance(value, Decimal) else Decimal(
            value if isinstance(value, str) else str(value)
        )
    except InvalidOperation:
        raise ValueError("price must be a number") from None
    if not price.is_finite():
        raise ValueError("price must be a finite number")
    if price < 0:
        raise ValueError("price must be greater than or equal to 0")
    if price > MAX_PRICE:
        raise ValueError(f"price must be at most {MAX_PRICE}")
    if price != price.quantize(CENT):
        raise ValueError("price must have at most two decimals")
    return price.quantize(CENT)


def _quantity(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("quantity must be an integer")
    if isinstance(value, Decimal):
        # An exact JSON number: 5.0 and 1e2 are integers (100), 1.0000000000000001 is not.
        # The range is checked before int() so `1e999999999` costs nothing.
        if value > MAX_QUANTITY:
            raise ValueError(f"quantity must be at most {MAX_QUANTITY}")
        if value < 0:
            raise ValueError("quantity must be greater than or equal to 0")
        if value != value.to_integral_value():
            raise ValueError("quantity must be an integer")
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("quantity must be an integer")
    if value < 0:
        raise ValueError("quantity must be greater than or equal to 0")
    if value > MAX_QUANTITY:
        raise ValueError(f"quantity must be at most {MAX_QUANTITY}")
    return value


def _text(max_length: int) -> StringConstraints:
    # strict: a number is not a title; trimmed, then it must be non-empty.
    return StringConstraints(
        strict=True, strip_whitespace=True, min_length=1, max_length=max_length
    )


Name = Annotated[str, _text(255)]
Genre = Annotated[str, _text(100)]
Description = Annotated[str, _text(10_000)]
Isbn = Annotated[str, BeforeValidator(_isbn)]
Price = Annotated[Decimal, BeforeValidator(_price)]
Quantity = Annotated[int, BeforeValidator(_quantity)]


class Book(BaseModel):
    """A book as the API sends and receives it (field names are the contract's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    isbn: Isbn = Field(alias="ISBN")
    title: Name
    author: Name = Field(alias="Author")
    description: Description
    genre: Genre
    price: Price
    quantity: Quantity

    def to_json(self) -> dict[str, Any]:
        return {
            "ISBN": self.isbn,
            "title": self.title,
            "Author": self.author,
            "description": self.description,
            "genre": self.genre,
            "price": self.price,
            "quantity": self.quantity,
        }

    def to_json_bytes(self) -> bytes:
        return dumps(self.to_json())


class BookQuery(BaseModel):
    """`GET /books` parameters."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=200)
    q: str | None = Field(default=None, min_length=1, max_length=200)
    author: str | None = Field(default=None, min_length=1, max_length=255)
    genre: str | None = Field(default=None, min_length=1, max_length=100)
