"""Load the demo books and customers through the public HTTP API.

    python scripts/seed_load.py --books-url http://127.0.0.1:3000 --customers-url http://127.0.0.1:3001
    python scripts/seed_load.py --books-url http://127.0.0.1:8080 --customers-url \\
        http://127.0.0.1:8081 --token "$JWT"          # through the BFFs

Each row is POSTed (bounded concurrency). Outcomes per resource:

- inserted: 201
- skipped:  422, the ISBN / userId already exists (so rerunning is harmless)
- rejected: 400, the row is invalid (the first reasons are printed)
- failed:   anything else (transport error, 5xx, 401, ...)

The exit code is 0 unless some row failed. Transport errors and 502/503/504 are retried a few
times first; a retried POST that had in fact succeeded comes back as 422 and counts as skipped.
Omit a URL to skip that resource.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

SEED_DIR = Path(__file__).resolve().parent / "seed"
DEFAULT_BOOKS = SEED_DIR / "books.json"
DEFAULT_CUSTOMERS = SEED_DIR / "customers.json"
DEFAULT_USER_AGENT = "bookstore-seed-loader/1.0"
RETRY_STATUSES = frozenset({502, 503, 504})
RETRY_DELAYS_S = (0.2, 0.5, 1.0)
MAX_REASONS_SHOWN = 5


@dataclass
class LoadResult:
    """Outcome counts of loading one resource."""

    resource: str
    inserted: int = 0
    skipped: int = 0
    rejected: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.inserted + self.skipped + self.rejected + self.failed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def summary(self) -> str:
        return (f"{self.resource}: {self.inserted} inserted, {self.skipped} skipped "
                f"(already existed), {self.rejected} rejected, {self.failed} failed "
                f"[{self.total} rows in {self.elapsed_s:.1f}s]")

    def note(self, reason: str) -> None:
        if len(self.reasons) < MAX_REASONS_SHOWN:
            self.reasons.append(reason)


def read_rows(path: Path) -> list[dict[str, Any]]:
    rows = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(f"{path}: expected a JSON array of objects")
    return rows


def request_headers(token: str | None, user_agent: str) -> dict[str, str]:
    headers = {"User-Agent": user_agent, "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _row_label(row: dict[str, Any]) -> str:
    return str(row.get("ISBN") or row.get("userId") or "?")


async def _post_one(session: aiohttp.ClientSession, url: str, row: dict[str, Any],
                    result: LoadResult) -> None:
    label = _row_label(row)
    for attempt in range(len(RETRY_DELAYS_S) + 1):
        last_try = attempt == len(RETRY_DELAYS_S)
        try:
            async with session.post(url, json=row) as response:
                status = response.status
                body = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            if not last_try:
                await asyncio.sleep(RETRY_DELAYS_S[attempt])
                continue
            result.failed += 1
            result.note(f"{label}: {type(exc).__name__}: {exc}")
            return
        if status in RETRY_STATUSES and not last_try:
            await asyncio.sleep(RETRY_DELAYS_S[attempt])
            continue
        if status == 201:
            result.inserted += 1
        elif status == 422:
            result.skipped += 1
        elif status == 400:
            result.rejected += 1
            result.note(f"{label}: 400 {body[:300]}")
        else:
            result.failed += 1
            result.note(f"{label}: {status} {body[:300]}")
        return


async def load_rows(session: aiohttp.ClientSession, base_url: str, path: str,
                    rows: Sequence[dict[str, Any]], *, resource: str,
                    concurrency: int = 16) -> LoadResult:
    """POST every row to `base_url + path`, at most `concurrency` at a time."""
    result = LoadResult(resource)
    url = base_url.rstrip("/") + path
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for row in rows:
        queue.put_nowait(row)

    async def worker() -> None:
        while True:
            try:
                row = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await _post_one(session, url, row, result)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(rows))))))
    result.elapsed_s = time.perf_counter() - started
    return result


async def load_seed(*, books_url: str | None = None, customers_url: str | None = None,
                    books: Sequence[dict[str, Any]] | None = None,
                    customers: Sequence[dict[str, Any]] | None = None,
                    token: str | None = None, user_agent: str = DEFAULT_USER_AGENT,
                    concurrency: int = 16, timeout_s: float = 15.0) -> list[LoadResult]:
    """Load books (when `books_url` is set) and customers (when `customers_url` is set).

    `books`/`customers` default to the committed demo files.
    """
    results: list[LoadResult] = []
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                     headers=request_headers(token, user_agent)) as session:
        if books_url:
            rows = list(books) if books is not None else read_rows(DEFAULT_BOOKS)
            results.append(await load_rows(session, books_url, "/books", rows,
                                           resource="books", concurrency=concurrency))
        if customers_url:
            rows = list(customers) if customers is not None else read_rows(DEFAULT_CUSTOMERS)
            results.append(await load_rows(session, customers_url, "/customers", rows,
                                           resource="customers", concurrency=concurrency))
    return results


def print_results(results: Sequence[LoadResult], out: Any = sys.stdout) -> None:
    for result in results:
        print(result.summary(), file=out)
        for reason in result.reasons:
            print(f"  {reason}", file=out)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books-url", help="Book service or Book BFF base URL")
    parser.add_argument("--customers-url", help="Customer service or Customer BFF base URL")
    parser.add_argument("--books", type=Path, default=DEFAULT_BOOKS,
                        help=f"JSON array of books (default: {DEFAULT_BOOKS.name})")
    parser.add_argument("--customers", type=Path, default=DEFAULT_CUSTOMERS,
                        help=f"JSON array of customers (default: {DEFAULT_CUSTOMERS.name})")
    parser.add_argument("--token", help="JWT sent as `Authorization: Bearer` (needed by BFFs)")
    parser.add_argument("--user-agent", default=DEFAULT_USER_AGENT)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request")
    args = parser.parse_args(argv)
    if not args.books_url and not args.customers_url:
        parser.error("give --books-url and/or --customers-url")
    if args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        books = read_rows(args.books) if args.books_url else None
        customers = read_rows(args.customers) if args.customers_url else None
    except (OSError, ValueError) as exc:
        print(f"seed_load: {exc}", file=sys.stderr)
        return 2
    results = asyncio.run(load_seed(
        books_url=args.books_url, customers_url=args.customers_url, books=books,
        customers=customers, token=args.token, user_agent=args.user_agent,
        concurrency=args.concurrency, timeout_s=args.timeout,
    ))
    print_results(results)
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
