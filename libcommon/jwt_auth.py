"""JWT bearer-token verification for the BFFs, and the aiohttp middleware applying it.

Rules (contract, BFF section): `Authorization: Bearer <token>`, HS256 only, `exp` a JSON
number in the future, `iss` equal to the configured issuer, `sub` one of the allowed
subjects, `nbf` (when present) not in the future. Any failure is a 401 whose message says
why in words, never echoing the token.

pyjwt checks the structure, the algorithm and the signature; the claims are checked here,
with one clock and the same code whether or not signatures are verified (pyjwt 2.x accepts
a string `exp` such as "1795496540", which the contract forbids).

Key rotation: `JWT_SECRET` holds one key or several, comma-separated (`new,old`); an entry
may name its key id (`2026-12:new,2026-11:old`). A token whose header `kid` names a configured
key is checked against that key only; any other token against each key in turn. The first
key is the one tools sign with (`signing_key`). See docs/KEY_ROTATION.md.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
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
# A key id: what may precede the first ':' of a JWT_SECRET entry.
_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
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
            parse_keys(value.get_secret_value())  # each key strong enough; never shows a key
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


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str | None
    key: bytes = field(repr=False)


def parse_keys(spec: str) -> tuple[SigningKey, ...]:
    """`JWT_SECRET` -> keys, in order. A single key is taken as it is (it may hold `:`; a
    `,` always separates keys). In a list, `kid:key` names a key id (letters,
    digits, `.`, `_`, `-`). A ValueError names what is wrong, never a key."""
    entries = [entry.strip() for entry in spec.split(",")]
    if len(entries) == 1:
        entries = [spec]  # one key: literal, surrounding spaces included, as before
    elif not all(entries):
        raise ValueError("has an empty entry between commas")
    keys: list[SigningKey] = []
    for position, entry in enumerate(entries, start=1):
        kid: str | None = None
        prefix, colon, rest = entry.partition(":")
        if len(entries) > 1 and colon and _KID.fullmatch(prefix):
            kid, entry = prefix, rest
        weakness = secret_weakness(entry)
        if weakness:
            raise ValueError(f"key {position} {weakness}" if len(entries) > 1 else weakness)
        keys.append(SigningKey(kid, entry.encode()))
    kids = [key.kid for key in keys if key.kid is not None]
    if len(kids) != len(set(kids)):
        raise ValueError("names the same key id twice")
    if len({key.key for key in keys}) != len(keys):
        raise ValueError("holds the same key twice")
    return tuple(keys)


def signing_key(spec: str) -> SigningKey:
    """The key new tokens are signed with: the first of `JWT_SECRET`."""
    return parse_keys(spec)[0]


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
        if verify_signature and secret is None:
            raise ValueError("the JWT secret is required")
        keys = parse_keys(secret) if secret is not None else ()
        self._keys = tuple(key.key for key in keys)
        self._keys_by_kid = {key.kid: key.key for key in keys if key.kid is not None}
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
            if len(self._keys) == 1:
                return self._decoder.decode(token, self._keys[0], algorithms=self._algorithms)
            return self._decode_rotating(token)
        except jwt.InvalidAlgorithmError:
            raise TokenRejected(f"Token algorithm must be {ALGORITHM}.") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("Token signature is invalid.") from None
        except jwt.PyJWTError:
            raise TokenRejected("Token is malformed.") from None

    def _decode_rotating(self, token: str) -> dict[str, Any]:
        # During a rotation: the key the token's `kid` names, else each key in turn.
        keys = self._keys
        if self._keys_by_kid:
            kid = jwt.get_unverified_header(token).get("kid")
            if isinstance(kid, str) and kid in self._keys_by_kid:
                keys = (self._keys_by_kid[kid],)
        for key in keys[:-1]:
            try:
                return self._decoder.decode(token, key, algorithms=self._algorithms)
            except jwt.InvalidSignatureError:
                continue
        return self._decoder.decode(token, keys[-1], algorithms=self._algorithms)

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
    verifier: JwtVerifier,
    public_paths: frozenset[str] = PUBLIC_PATHS,
    *,
    needs_no_token: Callable[[web.Request], bool] | None = None,
) -> Middleware:
    """Middleware: 401 with `WWW-Authenticate: Bearer` unless the token is acceptable.
    `needs_no_token(request)` lets other requests through too (CORS preflights)."""

    @web.middleware
    async def jwt_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in public_paths or (
            needs_no_token is not None and needs_no_token(request)
        ):
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
