"""Customer service HTTP handlers: parse, call, respond."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from libcommon.conditional import (
    ETAG_HEADER,
    StaleVersion,
    etag_value,
    if_match_tags,
    is_not_modified,
    not_modified,
    precondition_failed,
)
from libcommon.db import DuplicateKeyError
from libcommon.errors import ApiError
from libcommon.idempotency import created_response, idempotency_key
from libcommon.jsonio import raw_json_response, read_json
from libcommon.urls import query_param_plus_literal
from libcommon.validation import parse_model
from svc_customer.models import CustomerData, UserIdQuery, parse_customer_id
from svc_customer.repository import CustomerRepository

CUSTOMERS_KEY = web.AppKey("customers", CustomerRepository)

DUPLICATE_USER_ID = "This user ID already exists in the system."


def _not_found(customer_id: int) -> ApiError:
    return ApiError(404, f"No customer with id {customer_id}.")


@contextmanager
def _user_id_must_be_free() -> Iterator[None]:
    try:
        yield
    except DuplicateKeyError:
        raise ApiError(422, DUPLICATE_USER_ID) from None


async def create_customer(request: web.Request) -> web.Response:
    data = parse_model(CustomerData, await read_json(request))
    key = idempotency_key(request)
    with _user_id_must_be_free():
        created, replayed = await request.app[CUSTOMERS_KEY].register(data, idempotency_key=key)
    return created_response(request, created, replayed)


def _single(request: web.Request, stored: tuple[bytes, str]) -> web.Response:
    body, tag = stored
    if is_not_modified(request, tag):
        return not_modified(tag)
    return raw_json_response(body, headers={ETAG_HEADER: etag_value(tag)})


async def get_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    stored = await request.app[CUSTOMERS_KEY].get_json(customer_id)
    if stored is None:
        raise _not_found(customer_id)
    return _single(request, stored)


async def find_customer(request: web.Request) -> web.Response:
    # `?userId=a+b@x.org` sent unencoded means a `+`: an e-mail address holds no space.
    user_id = query_param_plus_literal(request, "userId")
    query = parse_model(UserIdQuery, {} if user_id is None else {"userId": user_id})
    stored = await request.app[CUSTOMERS_KEY].find_json_by_user_id(query.user_id)
    if stored is None:
        raise ApiError(404, f"No customer with userId {query.user_id}.")
    return _single(request, stored)


async def update_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    data = parse_model(CustomerData, await read_json(request))
    try:
        with _user_id_must_be_free():
            updated = await request.app[CUSTOMERS_KEY].update(
                customer_id, data, if_match=if_match_tags(request))
    except StaleVersion:
        raise precondition_failed("customer") from None
    if updated is None:
        raise _not_found(customer_id)
    customer, tag = updated
    return raw_json_response(customer.json, headers={ETAG_HEADER: etag_value(tag)})


async def delete_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    try:
        deleted = await request.app[CUSTOMERS_KEY].delete(
            customer_id, if_match=if_match_tags(request))
    except StaleVersion:
        raise precondition_failed("customer") from None
    if not deleted:
        raise _not_found(customer_id)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/customers", create_customer)
    router.add_get("/customers", find_customer)
    router.add_get("/customers/{id}", get_customer)
    router.add_put("/customers/{id}", update_customer)
    router.add_delete("/customers/{id}", delete_customer)
