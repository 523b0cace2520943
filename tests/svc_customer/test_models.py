"""Customer validation rules, without a database."""

from __future__ import annotations

import unicodedata
from typing import Any

import orjson
import pytest

from libcommon.errors import ApiError
from libcommon.events import parse_customer_registered
from libcommon.validation import parse_model
from svc_customer.models import (
    MAX_ID,
    US_STATE_CODES,
    CustomerData,
    UserIdQuery,
    parse_customer_id,
    render_customer,
    user_id_key,
)
from tests.builders import customer


def rendered(customer_id: int, data: CustomerData) -> dict[str, Any]:
    """The API's JSON for the customer as stored, parsed."""
    parsed: dict[str, Any] = orjson.loads(render_customer(customer_id, data.document()))
    return parsed


REQUIRED = ["userId", "name", "phone", "address", "city", "state", "zipcode"]
TEXT_FIELDS = ["name", "phone", "address", "city", "zipcode"]


def fields_in_error(data: Any) -> set[str]:
    with pytest.raises(ApiError) as info:
        parse_model(CustomerData, data)
    assert info.value.status == 400
    return {e["field"] for e in info.value.errors or []}


def test_valid_customer_round_trips_to_contract_json() -> None:
    data = parse_model(CustomerData, customer())
    assert rendered(7, data) == {"id": 7, **customer()}


@pytest.mark.parametrize(
    "email",
    ["a+b@x.io", "starlord2002@gmail.com", "first.last@sub.example.com", "o'brien@x.io",
     "UPPER@Example.COM", "josé@x.io", "a@bücher.de", "x_y-z@a-b.co.uk"],
)
def test_valid_emails(email: str) -> None:
    assert parse_model(CustomerData, customer(email)).user_id == email


def test_user_id_is_trimmed_but_otherwise_kept_as_given() -> None:
    assert parse_model(CustomerData, customer("  Ann.Lee@X.io \n")).user_id == "Ann.Lee@X.io"


@pytest.mark.parametrize(
    "email",
    ["plainaddress", "a@", "@x.io", "a@@x.io", "a@x", "a..b@x.io", ".a@x.io", "a b@x.io",
     "a@foo.test", "a@localhost", "user@[127.0.0.1]", '"quoted"@x.io', "a@x.io\nb@y.io",
     "", "   ", "x" * 250 + "@x.io", " " * 250 + "ab@x.io", "a@-x.io"],
)
def test_invalid_emails(email: str) -> None:
    assert fields_in_error(customer(email)) == {"userId"}


@pytest.mark.parametrize("value", [123, None, ["a@x.io"], {"a": "x.io"}, True])
def test_user_id_must_be_a_string(value: Any) -> None:
    assert fields_in_error(customer(value)) == {"userId"}


@pytest.mark.parametrize("field", REQUIRED)
def test_each_required_field_is_required(field: str) -> None:
    body = customer()
    del body[field]
    assert fields_in_error(body) == {field}


def test_every_missing_field_is_listed() -> None:
    assert fields_in_error({}) == set(REQUIRED)


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize("value", ["", "   ", "\t\n", None, 42, 4.5, False, ["x"]])
def test_text_fields_must_be_non_blank_strings(field: str, value: Any) -> None:
    assert fields_in_error(customer(**{field: value})) == {field}


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_fields_are_trimmed_and_limited_to_255_as_sent(field: str) -> None:
    assert getattr(parse_model(CustomerData, customer(**{field: "  x  "})), field) == "x"
    longest = "y" * 255
    assert getattr(parse_model(CustomerData, customer(**{field: longest})), field) == longest
    assert fields_in_error(customer(**{field: "y" * 256})) == {field}
    # The limit is the schema's maxLength: it counts the whitespace that trimming removes.
    assert fields_in_error(customer(**{field: "y" + " " * 255})) == {field}


@pytest.mark.parametrize(("given", "stored"), [("nd", "ND"), ("Ny", "NY"), (" ca ", "CA"),
                                               ("dc", "DC"), ("pr", "PR"), ("gu", "GU")])
def test_state_is_case_insensitive_and_stored_upper_case(given: str, stored: str) -> None:
    assert parse_model(CustomerData, customer(state=given)).state == stored


def test_every_state_dc_and_territory_is_accepted() -> None:
    assert len(US_STATE_CODES) == 50 + 1 + 6
    for code in US_STATE_CODES:
        assert parse_model(CustomerData, customer(state=code.lower())).state == code


@pytest.mark.parametrize("state", ["XX", "N", "NYC", "", "  ", "N.Y.", "New York", "AA", "FM",
                                   12, None])
def test_invalid_state(state: Any) -> None:
    assert fields_in_error(customer(state=state)) == {"state"}


@pytest.mark.parametrize("given", [None, "", "   "])
def test_address2_unset_forms_are_omitted_from_json(given: Any) -> None:
    data = parse_model(CustomerData, customer(address2=given))
    assert data.address2 is None
    body = rendered(1, data)
    assert "address2" not in body
    assert "undefined" not in body.values()


def test_address2_absent_is_omitted_and_present_is_trimmed() -> None:
    body = customer()
    del body["address2"]
    assert "address2" not in rendered(1, parse_model(CustomerData, body))
    data = parse_model(CustomerData, customer(address2="  Apt 2 "))
    assert rendered(1, data)["address2"] == "Apt 2"


@pytest.mark.parametrize("given", [5, ["x"], {"a": 1}, "z" * 256, "z" + "\x1c" * 255])
def test_invalid_address2(given: Any) -> None:
    assert fields_in_error(customer(address2=given)) == {"address2"}


def test_id_and_unknown_fields_are_ignored() -> None:
    data = parse_model(CustomerData, customer(id=99, isAdmin=True, extra={"x": 1}))
    assert not hasattr(data, "id")
    assert "isAdmin" not in data.model_dump() and "extra" not in data.model_dump()
    assert rendered(3, data) == {"id": 3, **customer()}


@pytest.mark.parametrize("body", [[customer()], "text", 5, None, True])
def test_non_object_body_is_400(body: Any) -> None:
    with pytest.raises(ApiError) as info:
        parse_model(CustomerData, body)
    assert info.value.status == 400
    assert info.value.message == "Request body must be a JSON object."


def test_user_id_query_requires_a_valid_email() -> None:
    assert parse_model(UserIdQuery, {"userId": "a+b@x.io"}).user_id == "a+b@x.io"
    for query in ({}, {"userId": ""}, {"userId": "a b@x.io"}, {"userId": "nope"}):
        with pytest.raises(ApiError) as info:
            parse_model(UserIdQuery, query)
        assert info.value.status == 400


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("42", 42), ("007", 7),
                                             (str(MAX_ID), MAX_ID)])
def test_customer_id_accepts_positive_bigints(text: str, value: int) -> None:
    assert parse_customer_id(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "1e3", " 1", "+1", "", "١",
                                  str(MAX_ID + 1), "9" * 30])
def test_customer_id_rejects_everything_else(text: str) -> None:
    with pytest.raises(ApiError) as info:
        parse_customer_id(text)
    assert info.value.status == 400


def test_user_id_key_folds_case_and_unicode_composition() -> None:
    assert user_id_key("Ann.Lee@X.IO") == user_id_key("ann.lee@x.io")
    composed, decomposed = "josé@x.io", unicodedata.normalize("NFD", "josé@x.io")
    assert composed != decomposed
    assert user_id_key(composed) == user_id_key(decomposed)
    assert user_id_key("a@x.io") != user_id_key("b@x.io")


@pytest.mark.parametrize("address2", [None, "Apt 2"])
def test_rendered_customer_is_the_event_schema_read_back_byte_for_byte(address2: Any) -> None:
    # The event value is the rendered customer; the consumer's schema must accept it as is.
    value = render_customer(5, parse_model(CustomerData, customer(address2=address2)).document())
    parsed = parse_customer_registered(value, [("event-id", b"e-1")])
    assert parsed.customer.id == 5
    assert parsed.customer.to_json() == value
