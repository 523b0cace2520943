"""Forged, broken and unacceptable Authorization headers (each must get a 401), shared by the
JWT and key-rotation tests."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from functools import cache

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.bff.upstream import BOOK, CUSTOMER, FakeService
from tests.builders import DROP, make_token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def tampered() -> str:
    header, _, signature = make_token(sub="starlord").split(".")
    forged = {"sub": "groot", "iss": "cmu.edu", "exp": time.time() + 10**6}
    return f"{header}.{b64(json.dumps(forged).encode())}.{signature}"


def none_alg_stripped() -> str:
    _, payload, _ = make_token().split(".")
    header = b64(b'{"alg":"none","typ":"JWT"}')
    return f"{header}.{payload}."


def bearer(token: str) -> str:
    return f"Bearer {token}"


# (case, Authorization header values: none, one, or several)
ATTACKS: list[tuple[str, Callable[[], list[str]]]] = [
    ("no header", lambda: []),
    ("wrong scheme Basic", lambda: ["Basic " + base64.b64encode(b"starlord:pw").decode()]),
    ("wrong scheme Token", lambda: ["Token " + make_token()]),
    ("token without scheme", lambda: [make_token()]),
    ("scheme only", lambda: ["Bearer"]),
    ("empty token", lambda: ["Bearer    "]),
    ("garbage", lambda: ["Bearer garbage"]),
    ("garbage with dots", lambda: ["Bearer a.b.c"]),
    ("two segments", lambda: [bearer(".".join(make_token().split(".")[:2]))]),
    ("four segments", lambda: [bearer(make_token() + ".xyz")]),
    ("token with space", lambda: [bearer(make_token() + " extra")]),
    ("alg none", lambda: [bearer(jwt.encode({"sub": "starlord", "iss": "cmu.edu",
                                               "exp": time.time() + 3600}, "",
                                              algorithm="none"))]),
    ("alg none, signature stripped", lambda: [bearer(none_alg_stripped())]),
    ("HS512", lambda: [bearer(make_token(algorithm="HS512"))]),
    ("RS256 header", lambda: [bearer(make_token(secret=rsa_key(), algorithm="RS256"))]),
    ("wrong secret", lambda: [bearer(make_token(secret="another-secret-0123456789-abcdefghij"))]),
    ("tampered payload, old signature", lambda: [bearer(tampered())]),
    ("expired", lambda: [bearer(make_token(exp=time.time() - 60))]),
    ("expired just now", lambda: [bearer(make_token(exp=int(time.time()) - 1))]),
    ("exp missing", lambda: [bearer(make_token(exp=DROP))]),
    ("exp as a string", lambda: [bearer(make_token(exp=str(int(time.time()) + 3600)))]),
    ("exp true", lambda: [bearer(make_token(exp=True))]),
    ("exp null", lambda: [bearer(make_token(exp=None))]),
    ("exp Infinity", lambda: [bearer(make_token(exp=float("inf")))]),
    ("iss missing", lambda: [bearer(make_token(iss=DROP))]),
    ("iss wrong", lambda: [bearer(make_token(iss="evil.edu"))]),
    ("iss other case", lambda: [bearer(make_token(iss="CMU.edu"))]),
    ("sub missing", lambda: [bearer(make_token(sub=DROP))]),
    ("sub not allowed", lambda: [bearer(make_token(sub="thanos"))]),
    ("sub not a string", lambda: [bearer(make_token(sub=["starlord"]))]),
    ("sub with spaces", lambda: [bearer(make_token(sub=" starlord"))]),
    ("nbf in the future", lambda: [bearer(make_token(nbf=time.time() + 600))]),
    ("nbf as a string", lambda: [bearer(make_token(nbf=str(int(time.time()) - 10)))]),
    ("two Authorization headers", lambda: [bearer(make_token()), bearer(make_token())]),
]


def script_single_resources(upstream: FakeService) -> None:
    upstream.answer("GET", "/books/978-0321815736", json=BOOK)
    upstream.answer("GET", "/customers/7", json=CUSTOMER)
