"""A steady, bounded load of mixed reads and writes through the public load balancers.

Every request is recorded (when it started, what it was, its status, how long it took; status 0
for a connection error or a client timeout), and so is every acknowledged write: the ISBN of each
201 to `POST /books`, the id and userId of each 201 to `POST /customers`. The load stops after
`duration_s` or `max_requests`, whichever comes first.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

USER_AGENT = "bookstore-topology-load/1.0"
# kind -> share of the requests
MIX = {"get_book": 35, "list_books": 15, "post_book": 15, "put_book": 5, "post_customer": 20,
       "get_customer": 10}


@dataclass(frozen=True)
class Record:
    started: float  # monotonic seconds
    kind: str
    status: int
    latency_ms: float


@dataclass
class Acknowledged:
    books: set[str] = field(default_factory=set)
    customers: dict[int, str] = field(default_factory=dict)  # id -> userId


@dataclass
class LoadResult:
    records: list[Record] = field(default_factory=list)
    acknowledged: Acknowledged = field(default_factory=Acknowledged)

    def failed(self, start: float = 0.0, end: float = float("inf")) -> list[Record]:
        """Answers no client should see: 5xx, or no answer at all."""
        return [r for r in self.records
                if start <= r.started < end and (r.status == 0 or r.status >= 500)]

    def statuses(self) -> Counter[int]:
        return Counter(r.status for r in self.records)

    def longest_ms(self) -> float:
        return max((r.latency_ms for r in self.records), default=0.0)


class Load:
    """`await Load(...).run()`; `mix` overrides the request shares (e.g. a registration burst)."""

    def __init__(self, book_url: str, customer_url: str, token: str, *, rate_per_s: float,
                 duration_s: float, max_requests: int = 100_000, timeout_s: float = 10.0,
                 mix: dict[str, int] | None = None, seed: int = 7, tag: str = "") -> None:
        self.book_url = book_url
        self.customer_url = customer_url
        self.headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
        self.rate_per_s = rate_per_s
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.mix = mix or MIX
        self.random = random.Random(seed)
        self.tag = tag or f"{int(time.time() * 1000) % 10**9}"
        self.counter = itertools.count()
        self.result = LoadResult()

    async def run(self) -> LoadResult:
        kinds = list(self.mix)
        weights = [self.mix[k] for k in kinds]
        interval = 1.0 / self.rate_per_s
        start = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        # Connections are not shared between requests: a killed replica must not poison a pool,
        # and HAProxy balances per connection.
        connector = aiohttp.TCPConnector(force_close=True, limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=self.timeout,
                                         headers=self.headers) as session:
            for sent in range(self.max_requests):
                due = start + sent * interval
                if due - start >= self.duration_s:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                kind = self.random.choices(kinds, weights)[0]
                task = asyncio.create_task(self._one(session, kind))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        return self.result

    async def _one(self, session: aiohttp.ClientSession, kind: str) -> None:
        started = time.monotonic()
        status = 0
        try:
            status = await getattr(self, f"_{kind}")(session)
        except (aiohttp.ClientError, TimeoutError, ConnectionError):
            status = 0
        latency_ms = (time.monotonic() - started) * 1000
        self.result.records.append(Record(started, kind, status, latency_ms))

    # -- the requests ------------------------------------------------------------------------
    def _isbn(self) -> str:
        return f"979-{self.tag[-4:].zfill(4)}{next(self.counter):06d}"

    def _known_isbn(self) -> str | None:
        books = self.result.acknowledged.books
        return self.random.choice(sorted(books)) if books else None

    async def _get_book(self, session: aiohttp.ClientSession) -> int:
        isbn = self._known_isbn()
        if isbn is None:
            return await self._list_books(session)
        async with session.get(f"{self.book_url}/books/{isbn}") as response:
            await response.read()
            return response.status

    async def _list_books(self, session: aiohttp.ClientSession) -> int:
        async with session.get(f"{self.book_url}/books", params={"limit": "5"}) as response:
            await response.read()
            return response.status

    def _book(self, isbn: str, price: str = "12.50") -> dict[str, object]:
        return {"ISBN": isbn, "title": f"Topology {isbn}", "Author": "Load Generator",
                "description": "written under injected faults", "genre": "fiction",
                "price": float(price), "quantity": 3}

    async def _post_book(self, session: aiohttp.ClientSession) -> int:
        isbn = self._isbn()
        async with session.post(f"{self.book_url}/books", json=self._book(isbn)) as response:
            await response.read()
            if response.status == 201:
                self.result.acknowledged.books.add(isbn)
            return response.status

    async def _put_book(self, session: aiohttp.ClientSession) -> int:
        isbn = self._known_isbn()
        if isbn is None:
            return await self._post_book(session)
        async with session.put(f"{self.book_url}/books/{isbn}",
                               json=self._book(isbn, "13.75")) as response:
            await response.read()
            return response.status

    async def _related_books(self, session: aiohttp.ClientSession) -> int:
        isbn = self._known_isbn()
        if isbn is None:
            return await self._post_book(session)
        async with session.get(f"{self.book_url}/books/{isbn}/related-books") as response:
            await response.read()
            return response.status

    async def _post_customer(self, session: aiohttp.ClientSession) -> int:
        n = next(self.counter)
        customer = {"userId": f"topo-{self.tag}-{n}@example.com", "name": "Topology Load",
                    "phone": "+14155550100", "address": "1 Main St", "city": "Pittsburgh",
                    "state": "PA", "zipcode": "15213"}
        async with session.post(f"{self.customer_url}/customers", json=customer) as response:
            body = await response.json(content_type=None) if response.status == 201 else None
            if response.status == 201 and isinstance(body, dict):
                self.result.acknowledged.customers[int(body["id"])] = str(body["userId"])
            return response.status

    async def _get_customer(self, session: aiohttp.ClientSession) -> int:
        customers = self.result.acknowledged.customers
        if not customers:
            return await self._post_customer(session)
        customer_id = self.random.choice(sorted(customers))
        async with session.get(f"{self.customer_url}/customers/{customer_id}") as response:
            await response.read()
            return response.status
