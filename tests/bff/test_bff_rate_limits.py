"""Request budgets at both BFFs, in-process memory storage (Redis: test_bff_rate_limits_redis)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from libcommon.ratelimit import RateLimitSettings, parse_limits
from libcommon.settings import load_settings
from tests.bff.support import BOOK_BFF, CUSTOMER_BFF, Bff, MakeClient
from tests.bff.upstream import BOOK, CUSTOMER, FakeService
from tests.builders import DESKTOP_UA, headers, make_token

RATE_LIMIT_POLICY = re.compile(r'^"(?P<name>[a-z]+-per-[a-z]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
RATE_LIMIT = re.compile(r'^"(?P<name>[a-z]+-per-[a-z]+)";r=0;t=(?P<t>\d+)$')


def script(upstream: FakeService) -> None:
    upstream.answer("GET", "/books/978-0321815736", json=BOOK)
    upstream.answer("GET", "/customers/7", json=CUSTOMER)
    upstream.answer("PUT", "/customers/7", json=CUSTOMER)
    upstream.answer("PUT", "/books/978-0321815736", json=BOOK)
    upstream.answer("POST", "/customers", 201, json=CUSTOMER)


def write_path(bff: Bff) -> str:
    return bff.get_path  # PUT on the single resource


def refused_count(service: str, budget: str, key: str) -> float:
    value = REGISTRY.get_sample_value(
        "ratelimit_refused_total", {"service": service, "budget": budget, "key": key}
    )
    return value or 0.0


async def test_reads_over_budget_get_429_with_retry_after_and_policy(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_reads="3/minute")
    service = f"bff_{bff.name}"
    before = refused_count(service, "reads", "address")

    statuses = [(await client.get(bff.get_path, headers=headers())).status for _ in range(3)]
    refused = await client.get(bff.get_path, headers=headers())

    assert statuses == [200, 200, 200]
    assert refused.status == 429
    body = await refused.json()
    assert set(body) == {"message"} and "reads per address" in body["message"]
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    policy = RATE_LIMIT_POLICY.match(refused.headers["RateLimit-Policy"])
    assert policy is not None
    assert (policy["name"], policy["q"], policy["w"]) == ("reads-per-address", "3", "60")
    state = RATE_LIMIT.match(refused.headers["RateLimit"])
    assert state is not None and state["name"] == "reads-per-address"
    assert int(state["t"]) == retry_after
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert len(upstream.seen) == 3  # the refused request never reached the service
    assert refused_count(service, "reads", "address") == before + 1


async def test_reads_and_writes_have_separate_budgets(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_reads="1/minute", rate_limit_writes="2/minute")
    body = BOOK if bff is BOOK_BFF else CUSTOMER

    assert (await client.get(bff.get_path, headers=headers())).status == 200
    assert (await client.get(bff.get_path, headers=headers())).status == 429
    puts = [
        (await client.put(write_path(bff), json=body, headers=headers())).status for _ in range(3)
    ]
    assert puts == [200, 200, 429]


async def test_head_counts_as_a_read(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    upstream.answer("HEAD", bff.get_path, json=None)
    client = await make_client(bff, rate_limit_reads="1/minute")
    assert (await client.head(bff.get_path, headers=headers())).status != 429
    assert (await client.get(bff.get_path, headers=headers())).status == 429


async def test_sign_ups_have_their_own_budget(
    make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(
        CUSTOMER_BFF, rate_limit_signups="2/minute", rate_limit_writes="100/minute"
    )
    posts = [
        (await client.post("/customers", json=CUSTOMER, headers=headers())).status
        for _ in range(3)
    ]
    put = await client.put("/customers/7", json=CUSTOMER, headers=headers())

    assert posts == [201, 201, 429]
    assert put.status == 200  # the write budget is untouched by sign-ups


async def test_post_books_is_a_write_not_a_sign_up(
    make_client: MakeClient, upstream: FakeService
) -> None:
    upstream.answer("POST", "/books", 201, json=BOOK)
    client = await make_client(BOOK_BFF, rate_limit_signups="1/minute")
    posts = [
        (await client.post("/books", json=BOOK, headers=headers())).status for _ in range(3)
    ]
    assert posts == [201, 201, 201]


async def test_requests_with_bad_tokens_spend_the_address_budget(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_reads="2/minute")
    bad = {"Authorization": "Bearer garbage", "User-Agent": DESKTOP_UA}

    statuses = [(await client.get(bff.get_path, headers=bad)).status for _ in range(3)]

    assert statuses == [401, 401, 429]
    assert upstream.seen == []


async def get_from(client: Any, address: str, path: str, sub: str) -> tuple[int, str]:
    """GET from another loopback address (127.0.0.0/8 is all ours): another client."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    url = client.make_url(path)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, headers=headers(make_token(sub=sub))) as response,
    ):
        message = (await response.json())["message"] if response.status == 429 else ""
        return response.status, message


async def test_each_subject_has_its_own_budget_too(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    """Clients at different addresses share one subject's budget; another subject is not
    affected."""
    script(upstream)
    client = await make_client(bff, rate_limit_reads="2/minute")
    path = bff.get_path

    first = await get_from(client, "127.0.0.11", path, "gamora")
    second = await get_from(client, "127.0.0.12", path, "gamora")
    third = await get_from(client, "127.0.0.13", path, "gamora")
    other = await get_from(client, "127.0.0.14", path, "drax")

    assert [first[0], second[0], third[0], other[0]] == [200, 200, 429, 200]
    assert third[1].startswith("Too many requests (reads per subject)")


async def test_each_address_has_its_own_budget(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_reads="1/minute")
    path = bff.get_path

    assert (await get_from(client, "127.0.0.21", path, "rocket"))[0] == 200
    repeat = await get_from(client, "127.0.0.21", path, "groot")
    elsewhere = await get_from(client, "127.0.0.22", path, "starlord")

    assert repeat[0] == 429 and "reads per address" in repeat[1]
    assert elsewhere[0] == 200


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    """A client cannot get a fresh budget by inventing X-Forwarded-For addresses."""
    script(upstream)
    client = await make_client(bff, rate_limit_reads="1/minute", forwarded_allow_ips="")
    first = await client.get(
        bff.get_path, headers=headers(make_token(sub="drax"), **{"X-Forwarded-For": "192.0.2.1"})
    )
    second = await client.get(
        bff.get_path, headers=headers(make_token(sub="groot"), **{"X-Forwarded-For": "192.0.2.2"})
    )
    assert [first.status, second.status] == [200, 429]


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    """Behind a load balancer listed in FORWARDED_ALLOW_IPS each client has its own budget."""
    script(upstream)
    client = await make_client(bff, rate_limit_reads="1/minute", forwarded_allow_ips="127.0.0.1")

    def at(address: str, sub: str) -> dict[str, str]:
        return headers(make_token(sub=sub), **{"X-Forwarded-For": address})

    first = await client.get(bff.get_path, headers=at("203.0.113.9", "rocket"))
    repeat = await client.get(bff.get_path, headers=at("203.0.113.9", "groot"))
    elsewhere = await client.get(bff.get_path, headers=at("198.51.100.7", "starlord"))
    assert [first.status, repeat.status, elsewhere.status] == [200, 429, 200]


@pytest.mark.parametrize("path", ["/status", "/ready", "/metrics"])
async def test_operational_routes_are_never_limited(
    bff: Bff, make_client: MakeClient, path: str
) -> None:
    client = await make_client(bff, rate_limit_reads="1/minute")
    statuses = {(await client.get(path)).status for _ in range(4)}
    assert statuses == {200}


async def test_disabled_limits_never_refuse(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_enabled=False, rate_limit_reads="1/minute")
    statuses = {(await client.get(bff.get_path, headers=headers())).status for _ in range(4)}
    assert statuses == {200}


async def test_several_windows_in_one_budget(
    bff: Bff, make_client: MakeClient, upstream: FakeService
) -> None:
    script(upstream)
    client = await make_client(bff, rate_limit_reads="100/second; 2/hour")
    statuses = [(await client.get(bff.get_path, headers=headers())).status for _ in range(3)]
    refused = await client.get(bff.get_path, headers=headers())
    assert statuses == [200, 200, 429]
    assert refused.headers["RateLimit-Policy"].endswith(";q=2;w=3600")
    assert 60 < int(refused.headers["Retry-After"]) <= 3600


@pytest.mark.parametrize("strategy", ["fixed-window", "sliding-window-counter", "moving-window"])
async def test_every_strategy_refuses_over_budget(
    make_client: MakeClient, upstream: FakeService, strategy: str
) -> None:
    script(upstream)
    client = await make_client(BOOK_BFF, rate_limit_reads="2/minute", rate_limit_strategy=strategy)
    statuses = [(await client.get(BOOK_BFF.get_path, headers=headers())).status for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_defaults_are_generous() -> None:
    settings = RateLimitSettings()
    assert settings.rate_limit_enabled
    assert settings.rate_limit_storage_url == "memory://"
    for value, floor_per_second in [
        (settings.rate_limit_reads, 10_000),
        (settings.rate_limit_writes, 5_000),
        (settings.rate_limit_signups, 2_000),
    ]:
        for item in parse_limits(value):
            assert item.amount / item.get_expiry() >= floor_per_second


BAD_SETTINGS: list[tuple[str, str]] = [
    ("RATE_LIMIT_READS", "lots"),
    ("RATE_LIMIT_READS", "0/second"),
    ("RATE_LIMIT_WRITES", "10 per fortnight"),
    ("RATE_LIMIT_SIGNUPS", "-5/minute"),
    ("RATE_LIMIT_STORAGE_URL", "mongodb://127.0.0.1:27017"),
    ("RATE_LIMIT_STORAGE_URL", "127.0.0.1:6379"),
    ("RATE_LIMIT_STRATEGY", "token-bucket"),
    ("RATE_LIMIT_ENABLED", "maybe"),
    ("RATE_LIMIT_RETRY_STORAGE_S", "0"),
    ("CORS_ALLOW_ORIGINS", "ftp://files.example.com"),
    ("CORS_ALLOW_ORIGINS", "https://shop.example.com/path"),
    ("CORS_ALLOW_ORIGINS", "https://shop.example.com/"),
    ("CORS_ALLOW_ORIGINS", "shop.example.com"),
    ("CORS_ALLOW_ORIGINS", "*, https://shop.example.com"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[f"{n}={v}" for n, v in BAD_SETTINGS])
@pytest.mark.parametrize("bff", [BOOK_BFF, CUSTOMER_BFF], ids=lambda bff: bff.name)
def test_bad_setting_stops_start_up_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], bff: Bff,
    name: str, value: str,
) -> None:
    monkeypatch.setenv("JWT_SECRET", "rate-limit-test-secret-0123456789-abcdef")
    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exc_info:
        load_settings(bff.settings_cls)
    assert exc_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("configuration error: ")
    assert f"{name}:" in err


def test_good_settings_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    values: dict[str, Any] = {
        "JWT_SECRET": "rate-limit-test-secret-0123456789-abcdef",
        "RATE_LIMIT_READS": "50/second; 1000/minute",
        "RATE_LIMIT_STORAGE_URL": "redis://:pw@10.0.0.5:6379/2",
        "RATE_LIMIT_STRATEGY": "sliding-window-counter",
        "CORS_ALLOW_ORIGINS": "https://shop.example.com, http://localhost:5173",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(BOOK_BFF.settings_cls)
    assert settings.rate_limit_strategy == "sliding-window-counter"
