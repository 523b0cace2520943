"""The `customer.registered` event: the only place its wire format is defined.

Kafka record:
  key     = the customer id as a decimal string (UTF-8)
  value   = the customer JSON exactly as the Customer service's 201 body (orjson)
  headers = `event-id` (uuid4, unique per event, the consumers' dedupe key) and
            `event-type: customer.registered`; optionally `request-id` (the X-Request-ID of
            the registration, so consumers' log lines carry it) and `traceparent` (W3C, the
            producer span of the registration's trace)
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

EVENT_TYPE_CUSTOMER_REGISTERED = "customer.registered"
HEADER_EVENT_ID = "event-id"
HEADER_EVENT_TYPE = "event-type"
HEADER_REQUEST_ID = "request-id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
DEFAULT_CUSTOMER_TOPIC = "bookstore.customer.evt"
_MAX_EVENT_ID_LEN = 64  # the outbox column is VARCHAR(64)


class CustomerTopicSettings(BaseSettings):
    """Mixin for the producer and the consumers of customer events (KAFKA_CUSTOMER_TOPIC)."""

    kafka_customer_topic: str = Field(default=DEFAULT_CUSTOMER_TOPIC, min_length=1)


class MalformedEvent(ValueError):
    """A record that can never be processed. `code` is short and fixed (a metric label);
    `reason` is for humans (logs, dead-letter header)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class UnsupportedEventType(ValueError):
    """A well-formed record of another event type: consumers skip it rather than fail."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unsupported event type {event_type!r}")
        self.event_type = event_type


def _no_line_breaks(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain line breaks")
    return value


class CustomerRegistered(BaseModel):
    """The event value: the stored customer as the 201 response shows it."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    id: int = Field(gt=0)
    userId: str = Field(min_length=3, max_length=320)  # the contract's camelCase name
    name: str = Field(min_length=1)
    phone: str = Field(min_length=1)
    address: str = Field(min_length=1)
    address2: str | None = None
    city: str = Field(min_length=1)
    state: str = Field(min_length=2, max_length=2)
    zipcode: str = Field(min_length=1)

    @field_validator("userId")
    @classmethod
    def _valid_email(cls, value: str) -> str:
        _no_line_breaks(value)
        try:
            # Syntax only: no DNS; special-use domains (e.g. .local, .test) are fine here.
            validate_email(value, check_deliverability=False, globally_deliverable=False)
        except EmailNotValidError as exc:
            raise ValueError(f"not a valid e-mail address ({exc})") from None
        return value

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(exclude_none=True))


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event ready for the outbox or for Kafka."""

    event_id: str
    key: str
    value: bytes
    headers: dict[str, str]

    def kafka_key(self) -> bytes:
        return self.key.encode()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(name, value.encode()) for name, value in self.headers.items()]


@dataclass(frozen=True, slots=True)
class ParsedCustomerRegistered:
    event_id: str
    customer: CustomerRegistered


def new_event_id() -> str:
    return str(uuid.uuid4())


def customer_registered_record(
    customer_id: int, value: bytes, *, event_id: str | None = None
) -> EventRecord:
    """The record for a just-created customer whose JSON `value` the producer rendered and
    validated already (svc_customer: the 201 body, the same bytes). Consumers check it with
    `parse_customer_registered`; nothing is validated twice on the way in."""
    event_id = event_id or new_event_id()
    return EventRecord(
        event_id=event_id,
        key=str(customer_id),
        value=value,
        headers={HEADER_EVENT_ID: event_id, HEADER_EVENT_TYPE: EVENT_TYPE_CUSTOMER_REGISTERED},
    )


def build_customer_registered(
    customer: Mapping[str, Any] | CustomerRegistered, *, event_id: str | None = None
) -> EventRecord:
    """The record for a customer given as a dict or the model, validated against the schema
    (producers other than svc_customer, and tests)."""
    model = (
        customer
        if isinstance(customer, CustomerRegistered)
        else CustomerRegistered.model_validate(dict(customer))
    )
    return customer_registered_record(model.id, model.to_json(), event_id=event_id)


def _header(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            if value is None:
                return None
            try:
                return value.decode()
            except UnicodeDecodeError:
                raise MalformedEvent("bad-header", f"header {name} is not UTF-8") from None
    return None


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in err["loc"]) or "value"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


def parse_customer_registered(
    value: bytes | None, headers: Sequence[tuple[str, bytes | None]]
) -> ParsedCustomerRegistered:
    """Check and decode a consumed record.

    Raises `MalformedEvent` for anything unusable (bad JSON, missing/invalid fields or
    event id) and `UnsupportedEventType` for another event type on the same topic. A record
    without an `event-type` header is taken as `customer.registered`.
    """
    event_type = _header(headers, HEADER_EVENT_TYPE)
    if event_type is not None and event_type != EVENT_TYPE_CUSTOMER_REGISTERED:
        raise UnsupportedEventType(event_type)
    event_id = (_header(headers, HEADER_EVENT_ID) or "").strip()
    if not event_id:
        raise MalformedEvent("missing-event-id", f"no {HEADER_EVENT_ID} header")
    if len(event_id) > _MAX_EVENT_ID_LEN:
        raise MalformedEvent("bad-event-id", f"{HEADER_EVENT_ID} longer than {_MAX_EVENT_ID_LEN}")
    if not value:
        raise MalformedEvent("empty-value", "the record has no value")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise MalformedEvent("invalid-json", f"value is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedEvent("invalid-json", "value is not a JSON object")
    try:
        customer = CustomerRegistered.model_validate(data)
    except ValidationError as exc:
        raise MalformedEvent("invalid-customer", _describe(exc)) from None
    return ParsedCustomerRegistered(event_id=event_id, customer=customer)


def request_id_from_headers(headers: Sequence[tuple[str, bytes | None]]) -> str | None:
    """The `request-id` header when present and well-formed (a forged one is ignored: it
    would end up in log lines)."""
    for key, value in headers:
        if key == HEADER_REQUEST_ID and value is not None:
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return text if _VALID_REQUEST_ID.fullmatch(text) else None
    return None
