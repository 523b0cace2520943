"""Customer validation exactly as the contract says (see openapi.yaml for the limits chosen)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from libcommon.errors import ApiError
from libcommon.jsonio import dumps

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


def _sent_text(value: Any, max_length: int = MAX_TEXT) -> str:
    """A string of at most `max_length` characters as sent, without surrounding whitespace.

    The limit applies before trimming so that it is exactly the schema's `maxLength`.
    """
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > max_length:
        raise ValueError(f"must be at most {max_length} characters")
    return value.strip()


def user_id_key(user_id: str) -> str:
    """The form under which userIds are unique and looked up: case-insensitive, NFC.

    Computed here rather than left to a collation so MySQL and SQLite agree (SQLite's NOCASE
    folds ASCII only; utf8mb4_unicode_ci also folds accents and ignores trailing spaces).
    """
    return unicodedata.normalize("NFC", user_id).lower()


def check_user_id(value: Any) -> str:
    """A syntactically valid e-mail address (no DNS), trimmed; returned as given otherwise."""
    user_id = _sent_text(value, MAX_USER_ID)
    if not user_id:
        raise ValueError("must not be empty or blank")
    try:
        validate_email(user_id, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from None
    return user_id


def _state(value: Any) -> str:
    code = _sent_text(value).upper()
    if code not in US_STATE_CODES:
        raise ValueError("must be a two-letter US state, DC or territory code")
    return code


def _text(value: Any) -> str:
    text = _sent_text(value)
    if not text:
        raise ValueError("must not be empty or blank")
    return text


def _address2(value: Any) -> str | None:
    # Absent, null and blank all mean "no second address line" (never stored as "undefined").
    if value is None:
        return None
    return _sent_text(value) or None


Text = Annotated[str, BeforeValidator(_text)]
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

    def fields_json(self) -> dict[str, Any]:
        """Every field as the API shows it, in its order, except the id."""
        body: dict[str, Any] = {
            "userId": self.user_id,
            "name": self.name,
            "phone": self.phone,
            "address": self.address,
        }
        if self.address2 is not None:
            body["address2"] = self.address2
        body.update(city=self.city, state=self.state, zipcode=self.zipcode)
        return body

    def document(self) -> bytes:
        """What the repository stores as the read model (`doc`)."""
        return dumps(self.fields_json())


def render_customer(customer_id: int, document: bytes) -> bytes:
    """The API's JSON for a stored customer: its id, then the document's fields.

    The one renderer: GET reads `document` as stored, POST (whose bytes are also the event
    value) and PUT render the document they just wrote.
    """
    return b'{"id":' + str(customer_id).encode() + b"," + document[1:]


@dataclass(frozen=True, slots=True)
class StoredCustomer:
    id: int
    json: bytes  # as `render_customer` gives it


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
