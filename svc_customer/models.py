"""Customer validation exactly as the contract says (see openapi.yaml for the limits chosen)."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from libcommon.errors import ApiError

MAX_TEXT = 255
# RFC 5321 limits a forward path to 256 octets including the angle brackets.
MAX_USER_ID = 254
MAX_ID = 9_223_372_036_854_775_807  # BIGINT
_ID_TEXT = re.compile(r"^[0-9]{1,19}$")

# The 50 states, DC, and the USPS codes of the inhabited territories and the minor outlying
# islands. Military (AA, AE, AP) and freely associated states (FM, MH, PW) are not US states
# or territories and are refused.
US_STATE_CODES = frozenset({
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ",
    "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT",
    "VA", "WA", "WV", "WI", "WY",
    "DC", "AS", "GU", "MP", "PR", "VI", "UM",
})


def user_id_key(user_id: str) -> str:
    """The form under which userIds are unique and looked up: case-insensitive, NFC.

    Computed here rather than left to a collation so MySQL and SQLite agree (SQLite's NOCASE
    folds ASCII only; utf8mb4_unicode_ci also folds accents and ignores trailing spaces).
    """
    return unicodedata.normalize("NFC", user_id).lower()


def check_user_id(value: Any) -> str:
    """A syntactically valid e-mail address (no DNS), trimmed; returned as given otherwise."""
    if not isinstance(value, str):
        raise ValueError("userId must be a string")
    user_id: str = value.strip()
    if not user_id:
        raise ValueError("userId must not be empty")
    if len(user_id) > MAX_USER_ID:
        raise ValueError(f"userId must be at most {MAX_USER_ID} characters")
    try:
        validate_email(user_id, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"userId is not a valid e-mail address: {exc}") from None
    return user_id


def _state(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("state must be a string")
    code = value.strip().upper()
    if code not in US_STATE_CODES:
        raise ValueError("state must be a two-letter US state, DC or territory code")
    return code


def _address2(value: Any) -> str | None:
    # Absent, null and blank all mean "no second address line" (never stored as "undefined").
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("address2 must be a string")
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"address2 must be at most {MAX_TEXT} characters")
    return value or None


# strict: a number is not a name; trimmed, then it must be non-empty.
Text = Annotated[
    str, StringConstraints(strict=True, strip_whitespace=True, min_length=1, max_length=MAX_TEXT)
]
UserId = Annotated[str, BeforeValidator(check_user_id)]
State = Annotated[str, BeforeValidator(_state)]
Address2 = Annotated[str | None, BeforeValidator(_address2)]


class CustomerData(BaseModel):
    """A customer as a client sends it (POST, PUT); `id` and unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId = Field(alias="userId")
    name: Text
    phone: Text
    address: Text
    address2: Address2 = None
    city: Text
    state: State
    zipcode: Text


class Customer(CustomerData):
    """A stored customer."""

    id: int

    @classmethod
    def stored(cls, customer_id: int, data: CustomerData) -> Customer:
        return cls.model_construct(id=customer_id, **data.model_dump())

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "userId": self.user_id,
            "name": self.name,
            "phone": self.phone,
            "address": self.address,
        }
        if self.address2 is not None:
            body["address2"] = self.address2
        body.update(city=self.city, state=self.state, zipcode=self.zipcode)
        return body


class UserIdQuery(BaseModel):
    """`GET /customers?userId=` parameters."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: UserId = Field(alias="userId")


def parse_customer_id(text: str) -> int:
    """A path id: a positive integer that fits a BIGINT, or a 400."""
    if _ID_TEXT.fullmatch(text):
        value = int(text)
        if 0 < value <= MAX_ID:
            return value
    raise ApiError(400, "Customer id must be a positive integer.",
                   errors=[{"field": "id", "message": f"must be an integer from 1 to {MAX_ID}"}])
