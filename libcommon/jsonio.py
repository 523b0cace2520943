"""JSON in and out with orjson: one encoder for every service."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from libcommon.errors import ApiError

JSON_CONTENT_TYPE = "application/json"


def _default(obj: Any) -> Any:
    # Decimal prices must leave as JSON numbers, not strings.
    if isinstance(obj, Decimal):
        return float(obj) if obj != obj.to_integral_value() else int(obj)
    raise TypeError


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(data), status=status, headers=headers, content_type=JSON_CONTENT_TYPE
    )


def raw_json_response(
    body: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response from JSON that is already serialized."""
    return web.Response(body=body, status=status, headers=headers, content_type=JSON_CONTENT_TYPE)


def is_json_content_type(content_type: str | None) -> bool:
    """`application/json` or `application/*+json`, parameters (charset) ignored."""
    if not content_type:
        return False
    mime = content_type.partition(";")[0].strip().lower()
    return mime == JSON_CONTENT_TYPE or (mime.startswith("application/") and mime.endswith("+json"))


BODY_TIMEOUT_KEY = web.AppKey("body_timeout_s", float)
DEFAULT_BODY_TIMEOUT_S = 10.0


async def read_body(request: web.Request) -> bytes:
    """The whole request body; 408 when the client stops sending it (no handler waits
    forever on a stalled upload), 413 past the app's size limit (raised by aiohttp)."""
    try:
        async with asyncio.timeout(request.app.get(BODY_TIMEOUT_KEY, DEFAULT_BODY_TIMEOUT_S)):
            return await request.read()
    except TimeoutError:
        raise ApiError(408, "The request body did not arrive in time.") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_exact(data: bytes) -> Any:
    """JSON whose non-integer numbers are exact Decimals (`1e-999999` stays 1E-999999 where a
    float would be 0.0). Slower than orjson: for bodies whose numbers are validated exactly."""
    return json.loads(data, parse_float=Decimal, parse_constant=_no_constants)


async def read_json(request: web.Request, *, exact_numbers: bool = False) -> Any:
    """The request body as JSON; 415 for a non-JSON content type, 400 when malformed.
    `exact_numbers`: non-integer numbers arrive as Decimal, never rounded through a float."""
    # aiohttp reports a missing header as application/octet-stream: accept that as JSON.
    if request.headers.get("Content-Type") and not is_json_content_type(request.content_type):
        raise ApiError(415, "Content-Type must be application/json.")
    body = await read_body(request)
    if not body.strip():
        raise ApiError(400, "Request body must be a JSON document.")
    try:
        # orjson first, even when exact: it is the one judge of what valid JSON is.
        document = orjson.loads(body)
        return loads_exact(body) if exact_numbers else document
    except (orjson.JSONDecodeError, ValueError, RecursionError):
        raise ApiError(400, "Request body is not valid JSON.") from None
