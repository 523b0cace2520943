"""Related books: the recommendation engine client, behind the circuit breaker.

Status codes (contract, "Related books and the circuit breaker"):

| circuit | engine | answer | circuit afterwards |
|---|---|---|---|
| closed | 200 items / 200 [] / 204 | 200 mapped items / 204 / 204 | closed |
| closed | no answer within the timeout | 504 | open, new window |
| closed | refused, 5xx, malformed body | 502 | open, new window |
| open, within the window | not called | 503 (`Retry-After`) | open |
| open, window elapsed: this request probes | success | 200 / 204 | closed |
| probe | timeout | 503 | open, new window |
| probe | refused, 5xx, malformed body | 502 | open, new window |
| probe in flight (any other request) | not called | 503 | unchanged |
| any | 4xx (the engine rejected this ISBN) | 502 | unchanged: closed, and a probe closes |

A failing probe that is not a timeout answers 502, like any other engine failure: the contract
names 502 for "other engine failures" in every state, and 503 only for timeouts of a probe.
A 4xx means the engine is up but refused this one request, so it does not trip the circuit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web
from prometheus_client import Histogram
from yarl import URL

from libcommon.breaker import (
    AsyncCircuitBreaker,
    CallTimeoutError,
    CircuitOpenError,
    FileCircuitStorage,
)
from libcommon.clock import Clock
from libcommon.errors import ApiError
from libcommon.tracing import client_trace_configs
from libcommon.web.retry_after import retry_after_header

log = logging.getLogger("svc_book.related")

ENGINE_LATENCY = Histogram(
    "recommender_request_duration_seconds",
    "Recommendation engine calls (not the ones the open circuit refused) by outcome:"
    " success, failure, rejected (4xx), timeout",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)

MAX_ENGINE_BODY_BYTES = 1_048_576


class EngineError(Exception):
    """The engine failed (5xx, unusable body): counts as a failure and opens the circuit."""


class EngineRejectedError(Exception):
    """The engine answered 4xx to this request: it is up, so the circuit is not tripped."""


@dataclass(frozen=True, slots=True)
class RecommendedTitle:
    isbn: str
    title: str
    authors: str
    publisher: str | None


def _text(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EngineError(f"item field {key!r} is not a non-empty string")
    return value


def _authors(item: dict[str, Any]) -> str:
    value = item.get("authors")
    # The course engine sends a string; a list of names is accepted and joined.
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return ", ".join(value)
    return _text(item, "authors")


def parse_titles(body: bytes) -> list[RecommendedTitle]:
    """The engine's 200 body, or EngineError for anything but a list of complete items.

    `isbn`, `title` and `authors` are required; `publisher` is not used, so it may be absent.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise EngineError("body is not JSON") from None
    if not isinstance(data, list):
        raise EngineError("body is not a JSON list")
    titles = []
    for item in data:
        if not isinstance(item, dict):
            raise EngineError("item is not a JSON object")
        publisher = item.get("publisher")
        titles.append(
            RecommendedTitle(
                isbn=_text(item, "isbn"),
                title=_text(item, "title"),
                authors=_authors(item),
                publisher=publisher if isinstance(publisher, str) else None,
            )
        )
    return titles


class RecommendationClient:
    """`GET {base_url}/recommended-titles/isbn/{isbn}`; the timeout is the breaker's job."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")

    def url_for(self, isbn: str) -> URL:
        return URL(
            f"{self._base_url}/recommended-titles/isbn/{quote(isbn, safe='')}", encoded=True
        )

    async def recommended_titles(self, isbn: str) -> list[RecommendedTitle]:
        async with self._session.get(
            self.url_for(isbn), headers={"Accept": "application/json"}, allow_redirects=False
        ) as response:
            if response.status == 204:
                return []
            if 400 <= response.status < 500:
                raise EngineRejectedError(f"engine answered {response.status}")
            if response.status != 200:
                raise EngineError(f"engine answered {response.status}")
            if (response.content_length or 0) > MAX_ENGINE_BODY_BYTES:
                raise EngineError("body too large")
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > MAX_ENGINE_BODY_BYTES:
                    raise EngineError("body too large")
            return parse_titles(bytes(body))


def to_related_book(title: RecommendedTitle) -> dict[str, str]:
    return {"ISBN": title.isbn, "title": title.title, "Author": title.authors}


class RelatedBooks:
    """The use case behind `GET /books/{ISBN}/related-books` (see the module docstring)."""

    def __init__(self, client: RecommendationClient, breaker: AsyncCircuitBreaker) -> None:
        self.client = client
        self.breaker = breaker

    async def _timed_call(self, isbn: str) -> list[RecommendedTitle]:
        """The breaker call, timed into ENGINE_LATENCY when the engine was really called."""
        started = time.perf_counter()
        outcome: str | None = "failure"
        try:
            titles = await self.breaker.call(lambda: self.client.recommended_titles(isbn))
            outcome = "success"
            return titles
        except CircuitOpenError:
            outcome = None  # refused without calling the engine
            raise
        except CallTimeoutError:
            outcome = "timeout"
            raise
        except EngineRejectedError:
            outcome = "rejected"
            raise
        except asyncio.CancelledError:
            outcome = None  # the client went away; says nothing about the engine
            raise
        finally:
            if outcome is not None:
                ENGINE_LATENCY.labels(outcome).observe(time.perf_counter() - started)

    async def fetch(self, isbn: str) -> list[dict[str, str]]:
        """Mapped items (an empty list means 204), or ApiError 502/503/504."""
        try:
            titles = await self._timed_call(isbn)
        except CircuitOpenError as exc:
            raise ApiError(
                503,
                "The recommendation service is unavailable; try again later.",
                headers={"Retry-After": retry_after_header(exc.retry_after_s)},
            ) from None
        except CallTimeoutError as exc:
            log.warning("recommendation engine timed out after %ss (probe: %s)",
                        exc.timeout_s, exc.probe)
            if exc.probe:
                raise ApiError(
                    503,
                    "The recommendation service is unavailable; try again later.",
                    headers={"Retry-After": retry_after_header(self.breaker.reset_s)},
                ) from None
            raise ApiError(504, "The recommendation service did not answer in time.") from None
        except (EngineError, EngineRejectedError, aiohttp.ClientError) as exc:
            log.warning("recommendation engine failed: %s: %s", type(exc).__name__, exc)
            raise ApiError(502, "The recommendation service failed.") from None
        except Exception:
            # Counted as an engine failure by the breaker; still a 502, never a 500.
            log.exception("unexpected error calling the recommendation engine")
            raise ApiError(502, "The recommendation service failed.") from None
        return [to_related_book(title) for title in titles]


class RelatedBooksSettings(Protocol):
    """The settings fields this module reads (svc_book.settings.Settings has them)."""

    @property
    def recommender_url(self) -> str: ...
    @property
    def recommender_timeout_s(self) -> float: ...
    @property
    def breaker_reset_s(self) -> float: ...
    @property
    def breaker_state_file(self) -> str: ...


RELATED_BOOKS_KEY = web.AppKey("related_books", RelatedBooks)


def build_related_books(
    session: aiohttp.ClientSession, settings: RelatedBooksSettings, clock: Clock | None = None
) -> RelatedBooks:
    breaker = AsyncCircuitBreaker(
        name="recommender",
        storage=FileCircuitStorage(settings.breaker_state_file, name="recommender"),
        timeout_s=settings.recommender_timeout_s,
        reset_s=settings.breaker_reset_s,
        clock=clock,
        exclude=(EngineRejectedError,),
    )
    return RelatedBooks(RecommendationClient(session, settings.recommender_url), breaker)


def related_books_ctx(
    settings: RelatedBooksSettings, clock: Clock | None = None
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that puts a `RelatedBooks` (own session + breaker) under the key."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # The breaker applies the contract's timeout; the session's is only a backstop.
        backstop = aiohttp.ClientTimeout(total=settings.recommender_timeout_s * 2 + 5)
        connector = aiohttp.TCPConnector(limit=100, ttl_dns_cache=60)
        async with aiohttp.ClientSession(
            connector=connector, timeout=backstop, trace_configs=client_trace_configs()
        ) as session:
            app[RELATED_BOOKS_KEY] = build_related_books(session, settings, clock)
            yield

    return ctx
