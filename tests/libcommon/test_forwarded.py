"""Trusted proxies (FORWARDED_ALLOW_IPS): the Host / X-Forwarded-* spoofing attack against real
processes (book BFF -> Book service) over real sockets, from a trusted and an untrusted peer.

127.0.0.2 is a loopback address that is not in the default FORWARDED_ALLOW_IPS (127.0.0.1,::1):
a connection bound to it plays the untrusted client on the internet.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from libcommon.forwarded import TrustedProxies, is_valid_host
from tests.builders import SECRET, headers
from tests.fixtures.procs import ROOT, ServiceProcess

UNTRUSTED = "127.0.0.2"
TRUSTED = "127.0.0.1"


@pytest.fixture
def book_bff(service_process: Callable[..., ServiceProcess], tmp_path: Path) -> ServiceProcess:
    service = service_process("svc_book", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/books.db",
        "BREAKER_STATE_FILE": str(tmp_path / "breaker.json"),
    })
    return service_process("bff_book", {"JWT_SECRET": SECRET, "BOOK_SERVICE_URL": service.url})


async def _location(bff: ServiceProcess, source: str, isbn: str, **extra: str) -> str:
    book = {"ISBN": isbn, "title": "t", "Author": "a", "description": "d", "genre": "fiction",
            "price": 1, "quantity": 1}
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.post(f"{bff.url}/books", json=book, headers=headers(**extra)) as answer,
    ):
        assert answer.status == 201, await answer.text()
        return answer.headers["Location"]


async def test_forwarded_headers_only_from_configured_proxies(book_bff: ServiceProcess) -> None:
    own = f"http://127.0.0.1:{book_bff.port}"
    spoofed = {"X-Forwarded-Host": "evil.com", "X-Forwarded-Proto": "https"}
    # The attack: an internet client names the host of the Location it gets (phishing links,
    # cache poisoning). Ignored: its peer address is not a configured proxy.
    assert await _location(book_bff, UNTRUSTED, "b-1", **spoofed) == f"{own}/books/b-1"
    # The same headers from the proxy in front (loopback by default) keep the contract.
    assert await _location(book_bff, TRUSTED, "b-2", **spoofed) == "https://evil.com/books/b-2"
    assert await _location(
        book_bff, TRUSTED, "b-3", **{"X-Forwarded-Host": "shop.example:8443, lb"}
    ) == "http://shop.example:8443/books/b-3"


@pytest.mark.parametrize("source", [UNTRUSTED, TRUSTED])
async def test_impossible_ports_never_reach_location(book_bff: ServiceProcess, source: str) -> None:
    own = f"http://127.0.0.1:{book_bff.port}"
    bad = [{"Host": "evil.com:99999"}, {"X-Forwarded-Host": "evil.com:99999"},
           {"X-Forwarded-Host": "evil.com:0"}, {"X-Forwarded-Host": "evil.com/path"}]
    for number, extra in enumerate(bad):
        location = await _location(book_bff, source, f"p-{number}", **extra)
        assert location == f"{own}/books/p-{number}", extra


@pytest.mark.slow  # starts a process
def test_a_bad_forwarded_allow_ips_stops_the_process_naming_it() -> None:
    env = {"PYTHONPATH": str(ROOT), "JWT_SECRET": SECRET, "FORWARDED_ALLOW_IPS": "10.0.0.0/8,evil"}
    done = subprocess.run([sys.executable, "-m", "bff_book"], cwd=ROOT, env=env,
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert b"FORWARDED_ALLOW_IPS" in done.stderr and b"'evil'" in done.stderr


def _request(peer: str, **header_values: str) -> Any:
    request = make_mocked_request("GET", "/", headers=header_values)
    return request.clone(remote=peer)


@pytest.mark.parametrize(("spec", "peer", "xff", "client"), [
    ("127.0.0.1", "203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: header ignored
    ("127.0.0.1", "127.0.0.1", "1.2.3.4", "1.2.3.4"),
    ("127.0.0.1", "127.0.0.1", "", "127.0.0.1"),
    # The client prepends a forged entry: the right-most untrusted entry is the real client.
    ("10.0.0.0/8", "10.0.0.5", "6.6.6.6, 1.2.3.4, 10.0.0.7", "1.2.3.4"),
    ("10.0.0.0/8", "10.0.0.5", "10.0.0.8, 10.0.0.7", "10.0.0.8"),
    ("10.0.0.0/8", "10.0.0.5", "garbage, 1.2.3.4", "1.2.3.4"),
    ("10.0.0.0/8", "10.0.0.5", "1.2.3.4, garbage", "10.0.0.5"),
    ("*", "198.51.100.1", "[2001:db8::1]:443", "2001:db8::1"),
    ("", "127.0.0.1", "1.2.3.4", "127.0.0.1"),
])
def test_client_address(spec: str, peer: str, xff: str, client: str) -> None:
    extra = {"X-Forwarded-For": xff} if xff else {}
    assert TrustedProxies.parse(spec).client_address(_request(peer, **extra)) == client


@pytest.mark.parametrize(("value", "valid"), [
    ("example.com", True), ("example.com:8080", True), ("[::1]:3000", True), ("svc_book", True),
    ("example.com:99999", False), ("example.com:0", False), ("a/b", False), ("[zz]:1", False),
    ("example.com\n", False), ("", False), ("a b", False), ("x" * 256, False),
])
def test_host_syntax(value: str, valid: bool) -> None:
    assert is_valid_host(value) is valid
