"""Request ids: taken from `X-Request-ID` when well-formed, otherwise minted here."""

from __future__ import annotations

import itertools
import re
import uuid

from aiohttp import web

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_KEY = web.RequestKey("request_id", str)

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

# Request ids need uniqueness, not secrecy: a random per-process prefix plus a counter is
# unique across replicas and restarts without a urandom syscall per request (uuid4).
_REQUEST_ID_PREFIX = uuid.uuid4().hex[:16]
_request_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_REQUEST_ID_PREFIX}{next(_request_counter):016x}"


def request_id_from(incoming: str | None) -> str:
    """The client's id when it is safe to log and echo, else a fresh one."""
    return incoming if incoming and _VALID_REQUEST_ID.match(incoming) else new_request_id()
