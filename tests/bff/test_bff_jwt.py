"""JWT rules at both BFFs: the attack table (all 401), valid tokens, settings, unsigned mode."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from pydantic import ValidationError

from libcommon.jwt_auth import JwtVerifier, TokenRejected, bearer_token, parse_subjects
from libcommon.settings import load_settings
from tests.bff.attacks import ATTACKS, bearer, script_single_resources
from tests.bff.support import BOOK_BFF, Bff, MakeClient
from tests.bff.upstream import FakeService
from tests.builders import DESKTOP_UA, SECRET, make_token
from tests.fixtures.procs import ROOT, free_port


@pytest.mark.parametrize(("case", "authorization"), ATTACKS, ids=[case for case, _ in ATTACKS])
async def test_attack_gets_401(
    bff: Bff, make_client: MakeClient, upstream: FakeService,
    case: str, authorization: Callable[[], list[str]],
) -> None:
    script_single_resources(upstream)
    client = await make_client(bff)
    values = authorization()
    request_headers = [("User-Agent", DESKTOP_UA)] + [("Authorization", v) for v in values]

    response = await client.get(bff.get_path, headers=request_headers)

    assert response.status == 401, case
    body = await response.json()
    assert set(body) == {"message"} and body["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    text = await response.text()
    for value in values:
        token = value.partition(" ")[2] or value
        if len(token) > 8:
            assert token not in text
    assert upstream.seen == []


class FromNow(float):
    """A time claim given as seconds from when the token is minted (not from collection)."""


def resolve_times(claims: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    return {k: now + v if isinstance(v, FromNow) else v for k, v in claims.items()}


VALID: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (case, token claims, settings overrides)
    *[(f"sub {name}", {"sub": name}, {}) for name in ("starlord", "gamora", "drax", "rocket",
                                                      "groot")],
    ("integer exp", {"exp": int(time.time()) + 3600}, {}),  # an hour: margin enough
    ("nbf in the past", {"nbf": FromNow(-5)}, {}),
    ("extra claims (aud, iat, jti)", {"aud": "someone", "iat": FromNow(0), "jti": "x1"}, {}),
    ("custom subjects, spaces ignored", {"sub": "nebula"},
     {"jwt_allowed_subjects": " thanos ,nebula,, "}),
    ("custom issuer", {"iss": "example.org"}, {"jwt_issuer": "example.org"}),
    ("leeway covers a just-expired token", {"exp": FromNow(-5)}, {"jwt_leeway_s": 30}),
]


@pytest.mark.parametrize(("case", "claims", "overrides"), VALID, ids=[c for c, _, _ in VALID])
async def test_valid_token_passes_and_is_not_forwarded(
    bff: Bff, make_client: MakeClient, upstream: FakeService,
    case: str, claims: dict[str, Any], overrides: dict[str, Any],
) -> None:
    script_single_resources(upstream)
    client = await make_client(bff, **overrides)

    response = await client.get(
        bff.get_path,
        headers={"Authorization": bearer(make_token(**resolve_times(claims))), "User-Agent": "x"},
    )

    assert response.status == 200, await response.text()
    assert len(upstream.seen) == 1
    assert "Authorization" not in upstream.seen[0].headers


async def test_scheme_is_case_insensitive(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script_single_resources(upstream)
    client = await make_client(bff)
    response = await client.get(
        bff.get_path, headers={"Authorization": "bearer " + make_token(), "User-Agent": "x"}
    )
    assert response.status == 200


async def test_custom_subjects_replace_the_defaults(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    client = await make_client(bff, jwt_allowed_subjects="nebula")
    response = await client.get(
        bff.get_path, headers={"Authorization": bearer(make_token()), "User-Agent": "x"}
    )
    assert response.status == 401
    assert (await response.json())["message"] == "Token subject is not allowed."


async def test_jwt_is_checked_before_user_agent(bff: Bff, make_client: MakeClient) -> None:
    client = await make_client(bff)
    response = await client.get(bff.get_path, skip_auto_headers=["User-Agent"])
    assert response.status == 401


@pytest.mark.parametrize("user_agent", [None, "", "   "], ids=["missing", "empty", "blank"])
async def test_user_agent_required_after_a_valid_token(
    bff: Bff, make_client: MakeClient, upstream: FakeService, user_agent: str | None
) -> None:
    client = await make_client(bff)
    request_headers = {"Authorization": bearer(make_token())}
    if user_agent is not None:
        request_headers["User-Agent"] = user_agent
    response = await client.get(
        bff.get_path, headers=request_headers, skip_auto_headers=["User-Agent"]
    )
    assert response.status == 400
    assert (await response.json()) == {"message": "User-Agent header is required."}
    assert upstream.seen == []


@pytest.mark.parametrize("path", ["/status", "/ready", "/metrics"])
async def test_operational_routes_need_no_token_nor_user_agent(
    bff: Bff, make_client: MakeClient, path: str
) -> None:
    client = await make_client(bff)
    response = await client.get(path, skip_auto_headers=["User-Agent"])
    assert response.status == 200


@pytest.mark.parametrize("path", ["/admin", "/openapi.json"])
async def test_other_routes_need_a_token_too(
    bff: Bff, make_client: MakeClient, path: str
) -> None:
    client = await make_client(bff)
    response = await client.get(path)
    assert response.status == 401


# --- settings ------------------------------------------------------------------------------


def test_secret_shorter_than_32_bytes_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        BOOK_BFF.settings("http://127.0.0.1:1", jwt_secret="x" * 31)


def test_secret_of_32_multibyte_characters_counts_bytes() -> None:
    secret = "".join(chr(0xE0 + i) for i in range(16))  # 16 characters, 32 bytes, 17 distinct
    settings = BOOK_BFF.settings("http://127.0.0.1:1", jwt_secret=secret)
    assert settings.jwt_secret.get_secret_value() == secret


@pytest.mark.parametrize("secret", [" " * 40, "é" * 16, "ab" * 32, "0123456789abcde" * 4])
def test_secret_with_too_little_variety_is_refused(secret: str) -> None:
    with pytest.raises(ValidationError, match="at least 16 distinct bytes"):
        BOOK_BFF.settings("http://127.0.0.1:1", jwt_secret=secret)


@pytest.mark.slow  # starts a process
@pytest.mark.parametrize("module", ["bff_book", "bff_customer"])
def test_a_bff_process_refuses_a_secret_of_40_spaces_naming_the_variable(module: str) -> None:
    # The attack as found: the real process started with JWT_SECRET of 40 spaces and served.
    env = {"PYTHONPATH": str(ROOT), "JWT_SECRET": " " * 40, "PORT": str(free_port()),
           "HOST": "127.0.0.1"}
    done = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env,
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        "configuration error: JWT_SECRET: Value error, must contain at least 16 distinct bytes "
        "(use e.g. `openssl rand -base64 48`)"
    )


def test_missing_secret_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        load_settings(BOOK_BFF.settings_cls)
    assert "JWT_SECRET" in capsys.readouterr().err


def test_short_secret_from_env_stops_start_up_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JWT_SECRET", "too-short-secret-value")
    with pytest.raises(SystemExit):
        load_settings(BOOK_BFF.settings_cls)
    err = capsys.readouterr().err
    assert "JWT_SECRET" in err and "too-short-secret-value" not in err


def test_env_names_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", SECRET)
    monkeypatch.setenv("JWT_ALLOWED_SUBJECTS", "a, b")
    monkeypatch.setenv("BOOK_SERVICE_URL", "http://book:3000")
    settings = load_settings(BOOK_BFF.settings_cls)
    assert settings.port == 8080
    assert settings.book_service_url == "http://book:3000"
    assert settings.jwt_issuer == "cmu.edu"
    assert parse_subjects(settings.jwt_allowed_subjects) == {"a", "b"}
    assert settings.jwt_verify_signature is True
    assert settings.upstream_timeout_s == 5.0
    assert settings.upstream_timeout_s > 3.0  # above the Book service's breaker timeout


def test_empty_subject_list_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one subject"):
        BOOK_BFF.settings("http://127.0.0.1:1", jwt_allowed_subjects=" , ")


def test_default_subjects() -> None:
    settings = BOOK_BFF.settings("http://127.0.0.1:1")
    assert parse_subjects(settings.jwt_allowed_subjects) == {
        "starlord", "gamora", "drax", "rocket", "groot"
    }


# --- signature checking turned off ---------------------------------------------------------


async def test_unsigned_mode_accepts_any_signature_but_checks_claims(
    bff: Bff, make_client: MakeClient, upstream: FakeService, caplog: pytest.LogCaptureFixture
) -> None:
    script_single_resources(upstream)
    caplog.set_level(logging.WARNING, logger="libcommon.jwt_auth")
    client = await make_client(bff, jwt_secret=None, jwt_verify_signature=False)
    assert any("NOT checked" in r.getMessage() for r in caplog.records)
    caplog.clear()

    foreign = make_token(secret="another-secret-0123456789-abcdefghij")
    unsigned = jwt.encode(
        {"sub": "drax", "iss": "cmu.edu", "exp": time.time() + 60}, "", algorithm="none"
    )
    for token in (foreign, unsigned):
        response = await client.get(
            bff.get_path, headers={"Authorization": bearer(token), "User-Agent": "x"}
        )
        assert response.status == 200
    assert sum("UNVERIFIED" in r.getMessage() for r in caplog.records) == 2

    for token in (
        make_token(exp=time.time() - 60),
        make_token(sub="thanos"),
        make_token(exp="9999999999"),
        "garbage",
    ):
        response = await client.get(
            bff.get_path, headers={"Authorization": bearer(token), "User-Agent": "x"}
        )
        assert response.status == 401


def test_signed_mode_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="libcommon.jwt_auth")
    JwtVerifier.from_settings(BOOK_BFF.settings("http://127.0.0.1:1"))
    assert caplog.records == []


# --- verifier unit tests -------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_cached_token_is_rejected_once_expired() -> None:
    clock = FakeClock(1_000_000.0)
    verifier = JwtVerifier(
        secret=SECRET, issuer="cmu.edu", allowed_subjects={"drax"}, clock=clock
    )
    token = make_token(sub="drax", exp=1_000_100)
    assert verifier.verify(token)["sub"] == "drax"
    assert verifier.verify(token)["sub"] == "drax"  # from the cache
    clock.now = 1_000_100.0
    with pytest.raises(TokenRejected, match="expired"):
        verifier.verify(token)


def test_nbf_leeway() -> None:
    clock = FakeClock(1_000_000.0)
    token = make_token(sub="drax", exp=1_000_100, nbf=1_000_010)
    strict = JwtVerifier(secret=SECRET, issuer="cmu.edu", allowed_subjects={"drax"}, clock=clock)
    lenient = JwtVerifier(
        secret=SECRET, issuer="cmu.edu", allowed_subjects={"drax"}, clock=clock, leeway_s=30
    )
    with pytest.raises(TokenRejected, match="not valid yet"):
        strict.verify(token)
    assert lenient.verify(token)["sub"] == "drax"


def test_verifier_refuses_a_short_secret() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        JwtVerifier(secret="short", issuer="cmu.edu", allowed_subjects={"drax"})


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["Bearer abc"], "abc"), (["bearer abc"], "abc"), (["BEARER  abc "], "abc")],
)
def test_bearer_token_parsing(values: list[str], expected: str) -> None:
    assert bearer_token(values) == expected


@pytest.mark.parametrize(
    "values", [[], ["Bearer"], ["Bearer "], ["Basic abc"], ["abc"], ["Bearer a b"], ["Bearer a", "Bearer a"]]
)
def test_bearer_token_rejections(values: list[str]) -> None:
    with pytest.raises(TokenRejected):
        bearer_token(values)
