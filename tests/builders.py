"""Sample data and tokens for tests: one place, imported by any test (never a conftest).

- `book()`, `customer()`: valid API bodies (the contract's examples), overridable per field;
- `SECRET`, `make_token()`, `headers()`: a BFF-accepted JWT and request headers;
- `DESKTOP_UA`, `MOBILE_UA`; `DROP`, a claim value meaning "leave the claim out".
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

SECRET = "bff-test-secret-0123456789-abcdefghij"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
MOBILE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) AppleWebKit/605.1 Mobile/15E148"
DROP = object()  # a claim value meaning "leave the claim out"


def book(isbn: str = "978-0321815736", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ISBN": isbn,
        "title": "Software Architecture in Practice",
        "Author": "Bass, L.",
        "description": "seminal book on software architecture",
        "genre": "non-fiction",
        "price": 59.95,
        "quantity": 106,
    }
    body.update(overrides)
    return body


def customer(user_id: str = "starlord2002@gmail.com", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userId": user_id,
        "name": "Star Lord",
        "phone": "+14122144122",
        "address": "48 Galaxy Rd",
        "address2": "suite 4",
        "city": "Fargo",
        "state": "ND",
        "zipcode": "58102",
    }
    body.update(overrides)
    return body


def make_token(
    *, secret: str | bytes | Any = SECRET, algorithm: str = "HS256", **claims: Any
) -> str:
    """Any token, valid by default (`sub` starlord, `iss` cmu.edu, an hour to live): claims
    override, `DROP` removes one, `secret`/`algorithm` forge. Valid tokens for scripts and the
    bench come from `devkit.tokens.mint_token`."""
    payload: dict[str, Any] = {"sub": "starlord", "iss": "cmu.edu", "exp": time.time() + 3600}
    payload.update(claims)
    payload = {name: value for name, value in payload.items() if value is not DROP}
    with warnings.catch_warnings():
        # HS512 with the 37-byte test secret: short for SHA-512, which is the point of the test.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm=algorithm)


def headers(token: str | None = None, ua: str | None = DESKTOP_UA, **extra: str) -> dict[str, str]:
    result = dict(extra)
    result["Authorization"] = f"Bearer {token if token is not None else make_token()}"
    if ua is not None:
        result["User-Agent"] = ua
    return result
