"""The circuit breaker end to end with real processes: engine → Book service → Book BFF.

Short settings (0.3 s timeout, 2 s window) stand in for the production 3 s / 60 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.builders import DESKTOP_UA, SECRET, make_token

ISBN = "978-0321815736"  # a course ISBN the reference engine knows

pytestmark = pytest.mark.slow


async def set_delay(session: aiohttp.ClientSession, engine_url: str, ms: int) -> None:
    async with session.put(f"{engine_url}/delay", json={"ms": ms}) as response:
        assert response.status == 200


async def related(session: aiohttp.ClientSession, base_url: str, **headers: str) -> tuple[int, float]:
    started = time.perf_counter()
    async with session.get(f"{base_url}/books/{ISBN}/related-books", headers=headers) as response:
        await response.read()
        return response.status, time.perf_counter() - started


async def test_breaker_opens_rejects_fast_and_recovers(
    service_process: Callable[..., Any], tmp_path: Path
) -> None:
    engine = service_process("recommender")
    book_env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/books.db",
        "RECOMMENDER_URL": engine.url,
        "RECOMMENDER_TIMEOUT_S": "0.3",
        "BREAKER_RESET_S": "2",
        "BREAKER_STATE_FILE": str(tmp_path / "breaker" / "state.json"),
    }
    book = service_process("svc_book", book_env)
    bff = service_process("bff_book", {"BOOK_SERVICE_URL": book.url, "JWT_SECRET": SECRET})
    auth = {"Authorization": f"Bearer {make_token()}", "User-Agent": DESKTOP_UA}

    async with aiohttp.ClientSession() as session:
        assert (await related(session, book.url))[0] == 200
        assert (await related(session, bff.url, **auth))[0] == 200

        await set_delay(session, engine.url, 1000)
        status, elapsed = await related(session, bff.url, **auth)
        assert status == 504  # the timeout opens the circuit
        assert 0.25 < elapsed < 1.0
        status, elapsed = await related(session, bff.url, **auth)
        assert status == 503 and elapsed < 0.2  # open: answered without waiting for the engine
        assert (await related(session, book.url))[0] == 503

        # A restarted container keeps the open circuit (state file).
        book.stop()
        book.start()
        assert (await related(session, book.url))[0] == 503

        await set_delay(session, engine.url, 0)
        assert (await related(session, book.url))[0] == 503  # still inside the window
        await asyncio.sleep(2.1)
        assert (await related(session, bff.url, **auth))[0] == 200  # the probe closes it
        assert (await related(session, book.url))[0] == 200

        # A probe that times out answers 503 and starts a new window.
        await set_delay(session, engine.url, 1000)
        assert (await related(session, book.url))[0] == 504
        await asyncio.sleep(2.1)
        await set_delay(session, engine.url, 1000)
        status, elapsed = await related(session, book.url)
        assert status == 503 and elapsed >= 0.25  # the probe waited for the timeout
        await set_delay(session, engine.url, 0)
        assert (await related(session, book.url))[0] == 503  # new window
