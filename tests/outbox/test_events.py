"""The customer.registered wire format: build and parse."""

from __future__ import annotations

import uuid

import orjson
import pytest

from libcommon.events import (
    HEADER_EVENT_ID,
    HEADER_EVENT_TYPE,
    MalformedEvent,
    UnsupportedEventType,
    build_customer_registered,
    parse_customer_registered,
)
from tests.outbox.helpers import customer


def test_record_is_the_201_body_keyed_by_id_with_event_headers() -> None:
    body = customer(42, address2="Apt 3")
    record = build_customer_registered(body)
    assert orjson.loads(record.value) == body
    assert list(orjson.loads(record.value)) == [
        "id", "userId", "name", "phone", "address", "address2", "city", "state", "zipcode"
    ]
    assert record.kafka_key() == b"42"
    assert str(uuid.UUID(record.event_id)) == record.event_id
    assert record.kafka_headers() == [
        (HEADER_EVENT_ID, record.event_id.encode()),
        (HEADER_EVENT_TYPE, b"customer.registered"),
    ]


def test_absent_address2_is_omitted_and_event_ids_are_unique() -> None:
    first = build_customer_registered(customer(1))
    second = build_customer_registered(customer(1))
    assert "address2" not in orjson.loads(first.value)
    assert first.event_id != second.event_id


def test_parse_round_trip() -> None:
    record = build_customer_registered(customer(7, name="Zoë"))
    parsed = parse_customer_registered(record.value, record.kafka_headers())
    assert parsed.event_id == record.event_id
    assert parsed.customer.name == "Zoë"
    assert parsed.customer.id == 7


def test_missing_event_type_header_is_accepted() -> None:
    parsed = parse_customer_registered(orjson.dumps(customer(3)), [(HEADER_EVENT_ID, b"e-1")])
    assert parsed.event_id == "e-1"


GOOD_HEADERS = [(HEADER_EVENT_ID, b"evt-1")]


@pytest.mark.parametrize(
    ("value", "headers", "code"),
    [
        (b"{not json", GOOD_HEADERS, "invalid-json"),
        (b"[1, 2]", GOOD_HEADERS, "invalid-json"),
        (None, GOOD_HEADERS, "empty-value"),
        (orjson.dumps({k: v for k, v in customer(1).items() if k != "name"}), GOOD_HEADERS,
         "invalid-customer"),
        (orjson.dumps(customer(1, userId="not-an-email")), GOOD_HEADERS, "invalid-customer"),
        (orjson.dumps(customer(1, userId="a@b.com\r\nBcc: x@y.com")), GOOD_HEADERS,
         "invalid-customer"),
        (orjson.dumps(customer(1, id="1")), GOOD_HEADERS, "invalid-customer"),
        (orjson.dumps(customer(1)), [], "missing-event-id"),
        (orjson.dumps(customer(1)), [(HEADER_EVENT_ID, b"x" * 65)], "bad-event-id"),
        (orjson.dumps(customer(1)), [(HEADER_EVENT_ID, b"\xff")], "bad-header"),
    ],
)
def test_malformed_records_are_rejected_with_a_reason(
    value: bytes | None, headers: list[tuple[str, bytes]], code: str
) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_customer_registered(value, headers)
    assert info.value.code == code
    assert info.value.reason


def test_other_event_types_are_reported_as_unsupported() -> None:
    with pytest.raises(UnsupportedEventType):
        parse_customer_registered(
            orjson.dumps(customer(1)),
            [(HEADER_EVENT_ID, b"e"), (HEADER_EVENT_TYPE, b"customer.deleted")],
        )
