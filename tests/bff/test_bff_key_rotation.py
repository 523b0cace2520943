"""JWT key rotation: several keys in JWT_SECRET, optionally selected by the token's `kid`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import pytest

from libcommon.jwt_auth import JwtVerifier, TokenRejected, parse_keys, signing_key
from libcommon.settings import load_settings
from tests.bff.attacks import ATTACKS, script_single_resources
from tests.bff.support import BOOK_BFF, Bff, MakeClient
from tests.bff.upstream import FakeService
from tests.builders import DESKTOP_UA, SECRET, make_token
from tests.deploy.deploy_script import SCRIPT as DEPLOY_SCRIPT
from tests.deploy.deploy_script import deploy_env

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from smoke import mint_token

OLD = SECRET
NEW = "rotated-secret-9876543210-zyxwvutsrqpo"
OTHER = "unrelated-secret-0123456789-abcdefghij"


def token(key: str, kid: str | None = None, **claims: object) -> str:
    payload = {"sub": "starlord", "iss": "cmu.edu", "exp": time.time() + 3600, **claims}
    return jwt.encode(payload, key, algorithm="HS256", headers={"kid": kid} if kid else None)


def verifier(spec: str) -> JwtVerifier:
    return JwtVerifier(secret=spec, issuer="cmu.edu", allowed_subjects={"starlord"})


CASES: list[tuple[str, str, Callable[[], str], bool]] = [
    # (case, JWT_SECRET, token, accepted)
    ("list: new key", f"{NEW},{OLD}", lambda: token(NEW), True),
    ("list: old key", f"{NEW},{OLD}", lambda: token(OLD), True),
    ("list: spaces around entries", f" {NEW} , {OLD} ", lambda: token(OLD), True),
    ("list: a third key", f"{NEW},{OLD}", lambda: token(OTHER), False),
    ("list: a kid is ignored", f"{NEW},{OLD}", lambda: token(OLD, kid="whatever"), True),
    ("kids: old key, its kid", f"k2:{NEW},k1:{OLD}", lambda: token(OLD, kid="k1"), True),
    ("kids: new key, its kid", f"k2:{NEW},k1:{OLD}", lambda: token(NEW, kid="k2"), True),
    ("kids: no kid, old key", f"k2:{NEW},k1:{OLD}", lambda: token(OLD), True),
    ("kids: unknown kid, old key", f"k2:{NEW},k1:{OLD}", lambda: token(OLD, kid="k9"), True),
    ("kids: kid names another key", f"k2:{NEW},k1:{OLD}", lambda: token(NEW, kid="k1"), False),
    ("kids: a third key, known kid", f"k2:{NEW},k1:{OLD}", lambda: token(OTHER, kid="k2"), False),
    ("kids: a third key, no kid", f"k2:{NEW},k1:{OLD}", lambda: token(OTHER), False),
    ("kids: mixed with plain keys", f"k2:{NEW},{OLD}", lambda: token(OLD), True),
    ("one key: taken literally", f"k1:{OLD}", lambda: token(f"k1:{OLD}"), True),
    ("one key: kid not split off", f"k1:{OLD}", lambda: token(OLD, kid="k1"), False),
]


@pytest.mark.parametrize(("case", "spec", "make", "accepted"), CASES, ids=[c[0] for c in CASES])
def test_rotation_keys(case: str, spec: str, make: Callable[[], str], accepted: bool) -> None:
    if accepted:
        assert verifier(spec).verify(make())["sub"] == "starlord"
    else:
        with pytest.raises(TokenRejected, match="signature is invalid"):
            verifier(spec).verify(make())


def test_signing_key_is_the_first() -> None:
    assert signing_key(f"k2:{NEW},k1:{OLD}").key == NEW.encode()
    assert signing_key(f"k2:{NEW},k1:{OLD}").kid == "k2"
    assert signing_key(OLD).kid is None
    assert "rotated" not in repr(parse_keys(f"k2:{NEW}")[0])


async def test_both_keys_pass_at_the_bff_during_a_rotation(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script_single_resources(upstream)
    client = await make_client(bff, jwt_secret=f"2026-12:{NEW},2026-11:{OLD}")
    for tok in (token(OLD), token(NEW), token(NEW, kid="2026-12"), token(OLD, kid="2026-11")):
        response = await client.get(
            bff.get_path, headers={"Authorization": f"Bearer {tok}", "User-Agent": DESKTOP_UA}
        )
        assert response.status == 200
    wrong = await client.get(
        bff.get_path,
        headers={"Authorization": f"Bearer {token(OTHER)}", "User-Agent": DESKTOP_UA},
    )
    assert wrong.status == 401


@pytest.mark.parametrize(("case", "authorization"), ATTACKS, ids=[case for case, _ in ATTACKS])
async def test_attacks_still_get_401_with_several_keys(
    make_client: MakeClient, upstream: FakeService,
    case: str, authorization: Callable[[], list[str]],
) -> None:
    """The attack table of test_bff_jwt, with the test secret as the *old* key of a rotation."""
    script_single_resources(upstream)
    client = await make_client(BOOK_BFF, jwt_secret=f"k2:{NEW},k1:{OLD}")
    request_headers = [("User-Agent", DESKTOP_UA)] + [("Authorization", v) for v in authorization()]
    response = await client.get(BOOK_BFF.get_path, headers=request_headers)
    assert response.status == 401, case
    assert upstream.seen == []


def test_forged_kid_header_cannot_pick_a_weaker_path() -> None:
    """A kid naming the old key with an alg:none token, or a path-like kid, is still refused."""
    spec = f"k2:{NEW},k1:{OLD}"
    none_token = jwt.encode(
        {"sub": "starlord", "iss": "cmu.edu", "exp": time.time() + 60}, "", algorithm="none",
        headers={"kid": "k1"},
    )
    for bad in (none_token, token(OTHER, kid="../../k1"), token(OLD, kid="k2")):
        with pytest.raises(TokenRejected):
            verifier(spec).verify(bad)
    assert make_token() and verifier(spec).verify(token(OLD, kid="k1"))


BAD_SECRETS = [
    ("a short key in the list", f"{NEW},too-short"),
    ("an empty entry", f"{NEW},,{OLD}"),
    ("a trailing comma", f"{NEW},"),
    ("a kid twice", f"k1:{NEW},k1:{OLD}"),
    ("the same key twice", f"{NEW},k1:{NEW}"),
    ("a kid with a short key", f"k1:short,{OLD}"),
]


@pytest.mark.parametrize(("case", "spec"), BAD_SECRETS, ids=[c for c, _ in BAD_SECRETS])
def test_bad_key_lists_stop_start_up_without_echoing_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str, spec: str
) -> None:
    monkeypatch.setenv("JWT_SECRET", spec)
    with pytest.raises(SystemExit):
        load_settings(BOOK_BFF.settings_cls)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JWT_SECRET" in err
    for part in spec.replace(":", ",").split(","):
        if len(part) > 3:
            assert part not in err, case


@pytest.mark.slow  # starts a process
@pytest.mark.parametrize("spec", [f"k2:{NEW},k1:{OLD}", f"{NEW},{OLD}"], ids=["kids", "plain"])
def test_deploy_smoke_token_is_signed_with_the_first_key(spec: str) -> None:
    result = subprocess.run(
        ["bash", "-c", f'source "{DEPLOY_SCRIPT}" && mint_jwt'], capture_output=True, text=True,
        check=False, env=deploy_env(JWT_SECRET=spec),
    )
    assert result.returncode == 0, result.stderr
    minted = result.stdout.strip()
    assert verifier(NEW).verify(minted)["sub"] == "starlord"
    with pytest.raises(TokenRejected):
        verifier(OLD).verify(minted)
    assert jwt.get_unverified_header(minted).get("kid") == ("k2" if "k2:" in spec else None)


def test_smoke_script_token_is_signed_with_the_first_key() -> None:
    minted = mint_token(f"k2:{NEW},k1:{OLD}")
    assert jwt.get_unverified_header(minted)["kid"] == "k2"
    assert verifier(NEW).verify(minted)["sub"] == "starlord"
