"""An X-Request-ID is created by the BFF when absent, forwarded, and logged by both hops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.builders import DESKTOP_UA, SECRET, make_token


async def _wait_for(predicate: Callable[[], bool], timeout_s: float = 3.0) -> bool:
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def test_request_id_reaches_the_logs_of_both_hops(
    service_process: Callable[..., Any], tmp_path: Path
) -> None:
    book = service_process("svc_book", {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/b.db",
                                        "LOG_FORMAT": "json"})
    bff = service_process("bff_book", {"BOOK_SERVICE_URL": book.url, "JWT_SECRET": SECRET,
                                       "LOG_FORMAT": "json"})
    headers = {"Authorization": f"Bearer {make_token()}", "User-Agent": DESKTOP_UA}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{bff.url}/books/no-such-book", headers=headers) as response:
            assert response.status == 404
            created = response.headers["X-Request-ID"]
        given = "client-chosen-id-42"
        async with session.get(f"{bff.url}/books/no-such-book",
                               headers={**headers, "X-Request-ID": given}) as response:
            assert response.headers["X-Request-ID"] == given

    def logged_by_both(request_id: str) -> Callable[[], bool]:
        line = f'"request_id":"{request_id}"'
        return lambda: line in bff.log() and line in book.log()

    for request_id in (created, given):
        assert await _wait_for(logged_by_both(request_id)), (bff.log()[-2000:], book.log()[-2000:])
