"""Client type from the User-Agent, and the mechanism of table-driven mobile shaping.

Contract: `User-Agent` missing (or empty) -> 400; containing `Mobile` (case-sensitive, as
the contract spells it) -> mobile, else desktop. Only GET responses of a single resource (a
JSON object) are reshaped, by the field rules the BFF gives its route: the rules themselves
(`non-fiction` -> 3, address fields removed) live in the BFF that applies them
(`bff_book/shaping.py`, `bff_customer/shaping.py`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from libcommon.errors import ApiError

MOBILE_MARKER = "Mobile"


class ClientType(enum.Enum):
    DESKTOP = "desktop"
    MOBILE = "mobile"


CLIENT_TYPE_KEY = web.RequestKey("client_type", ClientType)


def client_type_of(user_agent: str | None) -> ClientType:
    """Classify a User-Agent; ApiError(400) when it is missing or blank."""
    if user_agent is None or not user_agent.strip():
        raise ApiError(400, "User-Agent header is required.")
    return ClientType.MOBILE if MOBILE_MARKER in user_agent else ClientType.DESKTOP


@dataclass(frozen=True, slots=True)
class ReplaceValue:
    """Field `name` equal to `when` becomes `value`."""

    name: str
    when: Any
    value: Any

    def apply(self, body: dict[str, Any]) -> None:
        if self.name in body and body[self.name] == self.when:
            body[self.name] = self.value


@dataclass(frozen=True, slots=True)
class RemoveField:
    name: str

    def apply(self, body: dict[str, Any]) -> None:
        body.pop(self.name, None)


FieldRule = ReplaceValue | RemoveField
MobileRules = tuple[FieldRule, ...]


def needs_shaping(rules: MobileRules, client: ClientType, method: str) -> bool:
    """Whether a response must be parsed and reshaped (lets desktop relay bytes untouched)."""
    return bool(rules) and client is ClientType.MOBILE and method == "GET"


def shape(rules: MobileRules, client: ClientType, method: str, body: Any) -> Any:
    """The body as `client` should see it; a new object when anything is changed.

    Only a single resource (a JSON object) is reshaped: lists and other bodies pass as-is.
    """
    if not needs_shaping(rules, client, method) or not isinstance(body, dict):
        return body
    shaped = dict(body)
    for rule in rules:
        rule.apply(shaped)
    return shaped


def make_client_type_middleware(public_paths: frozenset[str]) -> Middleware:
    """Middleware storing the ClientType in `request["client_type"]` (400 without UA).

    Install it after the JWT middleware: the token is checked before the User-Agent.
    """

    @web.middleware
    async def client_type_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path not in public_paths:
            request[CLIENT_TYPE_KEY] = client_type_of(request.headers.get("User-Agent"))
        return await handler(request)

    return client_type_middleware
