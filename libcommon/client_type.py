"""Client type from the User-Agent, and the table-driven mobile shaping of GET responses.

Contract: `User-Agent` missing (or empty) -> 400; containing `Mobile` (case-sensitive, as
the contract spells it) -> mobile, else desktop. Mobile clients get single books with
`genre` "non-fiction" as the number 3 and single customers without address fields; lists
and related-books items are not reshaped, and only GET responses are.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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


class ResourceKind(enum.Enum):
    """What a single-resource response body is, for shaping."""

    BOOK = "book"
    CUSTOMER = "customer"


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

MOBILE_RULES: Mapping[ResourceKind, tuple[FieldRule, ...]] = {
    ResourceKind.BOOK: (ReplaceValue("genre", "non-fiction", 3),),
    ResourceKind.CUSTOMER: tuple(
        RemoveField(name) for name in ("address", "address2", "city", "state", "zipcode")
    ),
}


def needs_shaping(kind: ResourceKind | None, client: ClientType, method: str) -> bool:
    """Whether a response must be parsed and reshaped (lets desktop relay bytes untouched)."""
    return (
        kind is not None
        and client is ClientType.MOBILE
        and method == "GET"
        and bool(MOBILE_RULES.get(kind))
    )


def shape(kind: ResourceKind | None, client: ClientType, method: str, body: Any) -> Any:
    """The body as `client` should see it; a new object when anything is changed.

    Only a single resource (a JSON object) is reshaped: lists and other bodies pass as-is.
    """
    if not needs_shaping(kind, client, method) or not isinstance(body, dict):
        return body
    assert kind is not None
    shaped = dict(body)
    for rule in MOBILE_RULES[kind]:
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
