"""JWT bearer-token verification for the BFFs, and the aiohttp middleware applying it.

Rules (contract, BFF section): `Authorization: Bearer <token>`, HS256 only, `exp` a JSON
number in the future, `iss` equal to the configured issuer, `sub` one of the allowed
subjects, `nbf` (when present) not in the future. Any failure is a 401 whose message says
why in words, never echoing the token.

pyjwt checks the structure, the algorithm and the signature; the claims are checked here,
with one clock and the same code whether or not signatures are verified (pyjwt 2.x accepts
a string `exp` such as "1795496540", which the contract forbids).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jwt
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

from libcommon.errors import ApiError

log = logging.getLogger("libcommon.jwt_auth")

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
# 40 spaces or "aaaa..." are long enough but guessable: ask for some variety too.
MIN_SECRET_DISTINCT_BYTES = 16
DEFAULT_ALLOWED_SUBJECTS = "starlord, gamora, drax, rocket, groot"
DEFAULT_ISSUER = "cmu.edu"
# Paths answered without a token (the contract's list). /openapi.json needs one like any route.
PUBLIC_PATHS = frozenset({"/status", "/ready", "/metrics"})
CLAIMS_KEY = web.RequestKey("jwt_claims", dict[str, Any])

_CHALLENGE_MISSING = {"WWW-Authenticate": "Bearer"}
_CHALLENGE_INVALID = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
# Verified tokens are remembered (signature checks are deterministic); time claims are
# still checked on every request. Bounded so a flood of distinct tokens cannot grow it.
_CACHE_MAX_ENTRIES = 4096


class JwtSettings(BaseSettings):
    """Token rules; environment names are the field names upper-cased (JWT_SECRET, ...)."""

    jwt_secret: SecretStr | None = None
    jwt_issuer: str = DEFAULT_ISSUER
    jwt_allowed_subjects: str = DEFAULT_ALLOWED_SUBJECTS
    # Seconds of clock skew tolerated on exp and nbf. 0 keeps "exp in the future" literal.
    jwt_leeway_s: float = Field(default=0.0, ge=0, le=300)
    # false only for course graders that send unsigned tokens; logged loudly.
    jwt_verify_signature: bool = True

    @field_validator("jwt_secret")
    @classmethod
    def _secret_strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            weakness = secret_weakness(value.get_secret_value())
            if weakness:
                raise ValueError(weakness)
        return value

    @field_validator("jwt_allowed_subjects")
    @classmethod
    def _subjects_not_empty(cls, value: str) -> str:
        if not parse_subjects(value):
            raise ValueError("must name at least one subject")
        return value

    @model_validator(mode="after")
    def _secret_required_when_verifying(self) -> JwtSettings:
        if self.jwt_verify_signature and self.jwt_secret is None:
            raise ValueError("JWT_SECRET is required unless JWT_VERIFY_SIGNATURE=false")
        return self


def secret_weakness(secret: str) -> str | None:
    """Why an HS256 secret is too weak (too short, too little variety), or None."""
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        return f"must be at least {MIN_SECRET_BYTES} bytes"
    if len(set(key)) < MIN_SECRET_DISTINCT_BYTES:
        return (
            f"must contain at least {MIN_SECRET_DISTINCT_BYTES} distinct bytes "
            "(use e.g. `openssl rand -base64 48`)"
        )
    return None


def parse_subjects(value: str) -> frozenset[str]:
    """`"starlord, gamora"` -> {"starlord", "gamora"}; spaces around names are ignored."""
    return frozenset(name.strip() for name in value.split(",") if name.strip())


class TokenRejected(Exception):
    """The token is not acceptable; `str(exc)` is the reason shown to the client."""


def _is_number(value: object) -> bool:
    # bool is an int subclass in Python but `true` is not a JSON number; pyjwt's JSON parser
    # also accepts the non-JSON `NaN` and `Infinity` (a token that never expires).
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


class JwtVerifier:
    """Built once at start-up; `verify(token)` returns the claims or raises TokenRejected."""

    def __init__(
        self,
        *,
        secret: str | None,
        issuer: str,
        allowed_subjects: Iterable[str],
        leeway_s: float = 0.0,
        verify_signature: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if verify_signature:
            weakness = "is required" if secret is None else secret_weakness(secret)
            if weakness:
                raise ValueError(f"the JWT secret {weakness}")
        self._key = secret.encode() if secret is not None else b""
        self._issuer = issuer
        self._subjects = frozenset(allowed_subjects)
        self._leeway = leeway_s
        self.verify_signature = verify_signature
        self._clock = clock
        # pyjwt only decodes and checks the signature; claims are checked in _check_claims.
        self._decoder = jwt.PyJWT(
            options={
                "verify_signature": verify_signature,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": [],
            }
        )
        self._algorithms = [ALGORITHM]
        # pyjwt needs this per call: the constructor's options do not skip key preparation.
        self._unverified_options: jwt.types.Options = {"verify_signature": False}
        self._cache: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_settings(
        cls, settings: JwtSettings, clock: Callable[[], float] = time.time
    ) -> JwtVerifier:
        secret = settings.jwt_secret
        verifier = cls(
            secret=secret.get_secret_value() if secret is not None else None,
            issuer=settings.jwt_issuer,
            allowed_subjects=parse_subjects(settings.jwt_allowed_subjects),
            leeway_s=settings.jwt_leeway_s,
            verify_signature=settings.jwt_verify_signature,
            clock=clock,
        )
        if not verifier.verify_signature:
            log.warning(
                "JWT_VERIFY_SIGNATURE=false: token signatures are NOT checked; anyone can "
                "forge a token. Use this only for graders that send unsigned tokens."
            )
        return verifier

    def verify(self, token: str) -> dict[str, Any]:
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            self._check_static_claims(claims)
            if len(self._cache) >= _CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[token] = claims
        self._check_time_claims(claims)
        return claims

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            if not self.verify_signature:
                return self._decoder.decode(token, options=self._unverified_options)
            return self._decoder.decode(token, self._key, algorithms=self._algorithms)
        except jwt.InvalidAlgorithmError:
            raise TokenRejected(f"Token algorithm must be {ALGORITHM}.") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("Token signature is invalid.") from None
        except jwt.PyJWTError:
            raise TokenRejected("Token is malformed.") from None

    def _check_static_claims(self, claims: Mapping[str, Any]) -> None:
        for name in ("exp", "iss", "sub"):
            if name not in claims:
                raise TokenRejected(f"Token is missing the '{name}' claim.")
        if not _is_number(claims["exp"]):
            raise TokenRejected("Token 'exp' claim must be a number.")
        if "nbf" in claims and not _is_number(claims["nbf"]):
            raise TokenRejected("Token 'nbf' claim must be a number.")
        if claims["iss"] != self._issuer:
            raise TokenRejected("Token issuer is not accepted.")
        subject = claims["sub"]
        if not isinstance(subject, str) or subject not in self._subjects:
            raise TokenRejected("Token subject is not allowed.")

    def _check_time_claims(self, claims: Mapping[str, Any]) -> None:
        now = self._clock()
        if claims["exp"] <= now - self._leeway:
            raise TokenRejected("Token has expired.")
        nbf = claims.get("nbf")
        if nbf is not None and nbf > now + self._leeway:
            raise TokenRejected("Token is not valid yet (nbf is in the future).")


def bearer_token(header_values: list[str]) -> str:
    """The token of the single `Authorization: Bearer <token>` header, or TokenRejected."""
    if not header_values:
        raise TokenRejected("Missing Authorization header.")
    if len(header_values) > 1:
        raise TokenRejected("More than one Authorization header.")
    scheme, _, token = header_values[0].strip().partition(" ")
    # RFC 7235: the scheme name is case-insensitive.
    if scheme.lower() != "bearer":
        raise TokenRejected("Authorization scheme must be Bearer.")
    token = token.strip()
    if not token:
        raise TokenRejected("Bearer token is empty.")
    if " " in token:
        raise TokenRejected("Token is malformed.")
    return token


def make_jwt_middleware(
    verifier: JwtVerifier, public_paths: frozenset[str] = PUBLIC_PATHS
) -> Middleware:
    """Middleware: 401 with `WWW-Authenticate: Bearer` unless the token is acceptable."""

    @web.middleware
    async def jwt_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in public_paths:
            return await handler(request)
        values = request.headers.getall("Authorization", [])
        try:
            token = bearer_token(values)
            request[CLAIMS_KEY] = verifier.verify(token)
        except TokenRejected as exc:
            challenge = _CHALLENGE_MISSING if not values else _CHALLENGE_INVALID
            raise ApiError(401, str(exc), headers=challenge) from None
        if not verifier.verify_signature:
            log.warning(
                "request let through with an UNVERIFIED token signature (sub=%s)",
                request[CLAIMS_KEY]["sub"],
            )
        return await handler(request)

    return jwt_middleware
