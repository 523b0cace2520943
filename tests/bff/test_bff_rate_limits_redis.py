"""Request budgets in a real Redis (a redis-server of the test's own): one budget shared by
two BFF processes, and a Redis outage (the BFF keeps serving, fail-open, logged, counted)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from tests.bff.support import BOOK_BFF, MakeClient
from tests.bff.upstream import BOOK, FakeService
from tests.builders import SECRET, headers
from tests.fixtures.procs import ServiceProcess, free_port
from tests.fixtures.redis import RedisServer

PATH = BOOK_BFF.get_path


def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def storage_errors(service: str) -> float:
    value = REGISTRY.get_sample_value("ratelimit_storage_errors_total", {"service": service})
    return value or 0.0


async def test_budget_lives_in_redis(
    make_client: MakeClient, upstream: FakeService, redis_server: RedisServer
) -> None:
    upstream.answer("GET", PATH, json=BOOK)
    key_prefix = prefix()
    client = await make_client(
        BOOK_BFF, rate_limit_storage_url=redis_server.url, rate_limit_key_prefix=key_prefix,
        rate_limit_reads="3/minute",
    )
    statuses = [(await client.get(PATH, headers=headers())).status for _ in range(4)]
    refused = await client.get(PATH, headers=headers())

    assert statuses == [200, 200, 200, 429]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    keys = redis_server.keys(f"{key_prefix}*")
    assert any("address" in key for key in keys) and any("subject" in key for key in keys)


@pytest.mark.parametrize("strategy", ["sliding-window-counter", "moving-window"])
async def test_other_strategies_in_redis(
    make_client: MakeClient, upstream: FakeService, redis_server: RedisServer, strategy: str
) -> None:
    upstream.answer("GET", PATH, json=BOOK)
    client = await make_client(
        BOOK_BFF, rate_limit_storage_url=redis_server.url, rate_limit_key_prefix=prefix(),
        rate_limit_reads="2/minute", rate_limit_strategy=strategy,
    )
    statuses = [(await client.get(PATH, headers=headers())).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def _statuses_across(urls: list[str], count: int) -> list[int]:
    """`count` GETs, alternating between the processes."""
    statuses = []
    async with aiohttp.ClientSession() as session:
        for n in range(count):
            async with session.get(urls[n % len(urls)] + PATH, headers=headers()) as response:
                statuses.append(response.status)
    return statuses


def start_two_bffs(
    service_process: Callable[..., ServiceProcess], upstream: FakeService, **env: str
) -> list[str]:
    common = {"BOOK_SERVICE_URL": upstream.base_url, "JWT_SECRET": SECRET,
              "RATE_LIMIT_READS": "6/minute", "ACCESS_LOG": "false", **env}
    return [service_process("bff_book", common).url for _ in range(2)]


@pytest.mark.slow
async def test_two_bff_processes_share_one_redis_budget(
    service_process: Callable[..., ServiceProcess], upstream: FakeService,
    redis_server: RedisServer,
) -> None:
    upstream.answer("GET", PATH, json=BOOK)
    urls = await asyncio.to_thread(
        start_two_bffs, service_process, upstream,
        RATE_LIMIT_STORAGE_URL=redis_server.url, RATE_LIMIT_KEY_PREFIX=prefix(),
    )
    statuses = await _statuses_across(urls, 10)
    assert statuses == [200] * 6 + [429] * 4  # one budget of 6, whichever process answers


@pytest.mark.slow
async def test_two_bff_processes_with_memory_storage_have_a_budget_each(
    service_process: Callable[..., ServiceProcess], upstream: FakeService,
) -> None:
    """The contrast: without Redis each replica counts alone (12 pass, not 6)."""
    upstream.answer("GET", PATH, json=BOOK)
    urls = await asyncio.to_thread(start_two_bffs, service_process, upstream)
    statuses = await _statuses_across(urls, 14)
    assert statuses == [200] * 12 + [429] * 2


async def test_redis_going_away_fails_open_logged_and_counted(
    make_client: MakeClient, upstream: FakeService, redis_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream.answer("GET", PATH, json=BOOK)
    settings: dict[str, Any] = {
        "rate_limit_storage_url": redis_server.url, "rate_limit_key_prefix": prefix(),
        "rate_limit_reads": "3/minute", "rate_limit_retry_storage_s": 0.5,
        "rate_limit_storage_timeout_s": 0.2,
    }
    client = await make_client(BOOK_BFF, **settings)
    errors_before = storage_errors("bff_book")
    assert (await client.get(PATH, headers=headers())).status == 200

    redis_server.stop()
    caplog.set_level(logging.WARNING, logger="libcommon.ratelimit")
    started = time.monotonic()
    outage = [(await client.get(PATH, headers=headers())).status for _ in range(10)]
    elapsed = time.monotonic() - started

    assert outage == [200] * 10  # over the budget of 3, but the storage is gone: let through
    assert elapsed < 3.0  # one failed attempt, then the storage is skipped, not retried per request
    assert storage_errors("bff_book") >= errors_before + 1
    failures = [r for r in caplog.records if "rate-limit storage failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.ERROR

    redis_server.start()  # same port, empty: a fresh budget
    await asyncio.sleep(0.6)
    back = [(await client.get(PATH, headers=headers())).status for _ in range(4)]
    assert back == [200, 200, 200, 429]
    assert any("storage is back" in r.getMessage() for r in caplog.records)


async def test_unreachable_redis_at_start_does_not_stop_the_bff(
    make_client: MakeClient, upstream: FakeService,
) -> None:
    upstream.answer("GET", PATH, json=BOOK)
    client = await make_client(
        BOOK_BFF, rate_limit_storage_url=f"redis://127.0.0.1:{free_port()}/0",
        rate_limit_reads="1/minute", rate_limit_storage_timeout_s=0.2,
    )
    statuses = [(await client.get(PATH, headers=headers())).status for _ in range(3)]
    ready = await client.get("/ready")
    assert statuses == [200, 200, 200]
    assert ready.status == 200  # a limiter outage does not take the BFF out of rotation
