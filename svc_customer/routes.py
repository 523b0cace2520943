"""Customer service HTTP handlers: parse, call, shape, return."""

from __future__ import annotations

from aiohttp import web

from libcommon.db import DuplicateKeyError
from libcommon.errors import ApiError
from libcommon.jsonio import json_response, raw_json_response, read_json
from libcommon.outbox.app import OUTBOX_RELAY_KEY
from libcommon.urls import public_url, query_param_plus_literal
from libcommon.validation import parse_model
from svc_customer.models import CustomerData, UserIdQuery, parse_customer_id
from svc_customer.repository import CustomerRepository

CUSTOMERS_KEY = web.AppKey("customers", CustomerRepository)

DUPLICATE_USER_ID = "This user ID already exists in the system."


def _not_found(customer_id: int) -> ApiError:
    return ApiError(404, f"No customer with id {customer_id}.")


async def create_customer(request: web.Request) -> web.Response:
    data = parse_model(CustomerData, await read_json(request))
    try:
        customer, body = await request.app[CUSTOMERS_KEY].register(data)
    except DuplicateKeyError:
        raise ApiError(422, DUPLICATE_USER_ID) from None
    request.app[OUTBOX_RELAY_KEY].notify()  # committed: publish now rather than at the next poll
    location = public_url(request, "customers", str(customer.id))
    return raw_json_response(body, status=201, headers={"Location": location})


async def get_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    stored = await request.app[CUSTOMERS_KEY].get_json(customer_id)
    if stored is None:
        raise _not_found(customer_id)
    return raw_json_response(stored)


async def find_customer(request: web.Request) -> web.Response:
    # `?userId=a+b@x.org` sent unencoded means a `+`: an e-mail address holds no space.
    user_id = query_param_plus_literal(request, "userId")
    query = parse_model(UserIdQuery, {} if user_id is None else {"userId": user_id})
    stored = await request.app[CUSTOMERS_KEY].find_json_by_user_id(query.user_id)
    if stored is None:
        raise ApiError(404, f"No customer with userId {query.user_id}.")
    return raw_json_response(stored)


async def update_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    data = parse_model(CustomerData, await read_json(request))
    try:
        customer = await request.app[CUSTOMERS_KEY].update(customer_id, data)
    except DuplicateKeyError:
        raise ApiError(422, DUPLICATE_USER_ID) from None
    if customer is None:
        raise _not_found(customer_id)
    return json_response(customer.to_json())


async def delete_customer(request: web.Request) -> web.Response:
    customer_id = parse_customer_id(request.match_info["id"])
    if not await request.app[CUSTOMERS_KEY].delete(customer_id):
        raise _not_found(customer_id)
    return web.Response(status=204)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/customers", create_customer)
    router.add_get("/customers", find_customer)
    router.add_get("/customers/{id}", get_customer)
    router.add_put("/customers/{id}", update_customer)
    router.add_delete("/customers/{id}", delete_customer)
