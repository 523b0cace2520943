"""JWTs the BFFs accept (HS256; `sub`, `iss`, numeric `iat`/`exp`)."""

from __future__ import annotations

import time
from typing import Any

import jwt

from libcommon.jwt_auth import signing_key

DEFAULT_SUBJECT = "starlord"
DEFAULT_ISSUER = "cmu.edu"


def mint_token(
    secret: str,
    *,
    subject: str = DEFAULT_SUBJECT,
    issuer: str = DEFAULT_ISSUER,
    ttl_s: int = 24 * 3600,
    now: float | None = None,
    **claims: Any,
) -> str:
    """A signed token; `claims` are added (or override the defaults). `secret` is a
    JWT_SECRET value: with several keys, the first signs, named by `kid`
    (docs/KEY_ROTATION.md)."""
    issued = int(now if now is not None else time.time())
    payload: dict[str, Any] = {"sub": subject, "iss": issuer, "iat": issued,
                               "exp": issued + ttl_s, **claims}
    key = signing_key(secret)
    return jwt.encode(payload, key.key, algorithm="HS256",
                      headers={"kid": key.kid} if key.kid else None)
