"""Forwarding a BFF request to its upstream service over one pooled HTTP client.

`Upstream.relay(request, mobile_rules)` forwards method, raw path and query (so `%2B` stays
intact), body, Content-Type, Accept, User-Agent, Idempotency-Key, If-Match, If-None-Match and
X-Request-ID (never Authorization or hop-by-hop headers: the forwarded headers are a
whitelist), then relays status, body, Content-Type, Retry-After, ETag, Idempotent-Replayed and
Location (rewritten to the URL the client addressed). A reshaped (mobile) representation gets
its own ETag (the service's plus a suffix), translated back in conditional headers.
Unreachable upstream -> 502, timeout -> 504, a non-JSON body from upstream -> 502; every
one with a JSON `{"message"}` body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import orjson
from aiohttp import web
from pydantic import Field
from pydantic_settings import BaseSettings
from yarl import URL

from libcommon.client_type import CLIENT_TYPE_KEY, ClientType, MobileRules, needs_shaping, shape
from libcommon.conditional import (
    ETAG_HEADER,
    shaped_etag,
    upstream_if_match,
    upstream_if_none_match,
)
from libcommon.errors import ApiError
from libcommon.idempotency import REPLAYED_HEADER
from libcommon.jsonio import JSON_CONTENT_TYPE, is_json_content_type, read_body
from libcommon.tracing import client_trace_configs
from libcommon.urls import public_base_url
from libcommon.web.request_id import REQUEST_ID_HEADER, REQUEST_ID_KEY, new_request_id

log = logging.getLogger("libcommon.proxy")

# Whitelist: everything else (Authorization, Connection, Keep-Alive, TE, Upgrade, Cookie,
# Host, Content-Length, Transfer-Encoding, ...) stays at the BFF. The W3C trace context is
# forwarded as-is when this BFF does not trace; when it does, the client span's trace
# config replaces `traceparent` with its own (same trace, the BFF's span as parent).
FORWARDED_REQUEST_HEADERS = ("Content-Type", "Accept", "User-Agent", "Idempotency-Key",
                             "traceparent", "tracestate")
READY_TIMEOUT_S = 1.5


class ProxySettings(BaseSettings):
    """Upstream client settings shared by the BFFs (UPSTREAM_* environment variables)."""

    # Above the Book service's 3 s breaker timeout, so its 504/503 reach the client.
    upstream_timeout_s: float = Field(default=5.0, gt=0, le=300)
    upstream_pool_size: int = Field(default=100, ge=1, le=10_000)
    # Below aiohttp's server keep-alive (75 s) so the client closes idle connections first.
    upstream_keepalive_s: float = Field(default=30.0, gt=0)


def upstream_method(request: web.Request) -> str:
    """HEAD is asked upstream as GET: the BFF builds the whole answer (shaped, with its
    Content-Length) and aiohttp sends only its headers."""
    return "GET" if request.method == "HEAD" else request.method


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    body: bytes
    content_type: str | None
    location: str | None
    retry_after: str | None
    etag: str | None = None
    replayed: str | None = None


class Upstream:
    """One upstream service: its base URL and a pooled ClientSession (start/close)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        pool_size: int = 100,
        keepalive_s: float = 30.0,
    ) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._base_path = URL(self.base_url).path.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ready_timeout = aiohttp.ClientTimeout(total=min(timeout_s, READY_TIMEOUT_S))
        self._pool_size = pool_size
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None
        self._msg_unreachable = f"The {name} service is unreachable."
        self._msg_timeout = f"The {name} service did not answer in time."
        self._msg_invalid = f"The {name} service sent an invalid response."

    @classmethod
    def from_settings(cls, name: str, base_url: str, settings: ProxySettings) -> Upstream:
        return cls(
            name,
            base_url,
            timeout_s=settings.upstream_timeout_s,
            pool_size=settings.upstream_pool_size,
            keepalive_s=settings.upstream_keepalive_s,
        )

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._pool_size,
            limit_per_host=0,
            keepalive_timeout=self._keepalive_s,
            ttl_dns_cache=10,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            raise_for_status=False,
            trace_configs=client_trace_configs(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError(f"upstream {self.name} is not started")
        return self._session

    async def check(self) -> None:
        """Readiness = "this BFF can serve": not ready when the upstream is down (connection
        refused, reset, or /status answered non-200), still ready when it is only slow. Under
        peak load the probe waits behind busy pooled connections and the upstream's own
        queue; failing then would take every BFF out of the load balancer exactly at peak,
        while requests still get their answer (or a 504 of their own)."""
        try:
            async with self.session.get(
                self.base_url + "/status", timeout=self._ready_timeout, allow_redirects=False
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"{self.name} /status answered {response.status}")
        except TimeoutError:
            log.info("%s /status slower than %.1f s: still ready (slow is not down)",
                     self.name, self._ready_timeout.total or 0)
        except aiohttp.ClientError:
            raise RuntimeError(f"{self.name} unreachable") from None

    async def forward(self, request: web.Request, shaped: bool = False) -> UpstreamAnswer:
        """Send the request upstream as-is; ApiError 502/504 when that fails. `shaped`: the
        client gets a reshaped representation (its ETags carry a suffix the service's lack)."""
        body = await read_body(request) if request.body_exists else None
        # Set by the base app's request-id middleware (created there when the client sent none).
        request_id = request.get(REQUEST_ID_KEY) or new_request_id()
        headers = {REQUEST_ID_HEADER: request_id}
        for name in FORWARDED_REQUEST_HEADERS:
            value = request.headers.get(name)
            if value is not None:
                headers[name] = value
        if_none_match = request.if_none_match
        if if_none_match:
            value = upstream_if_none_match(if_none_match, shaped)
            if value is not None:
                headers["If-None-Match"] = value
        if_match = request.if_match
        if if_match is not None:
            headers["If-Match"] = upstream_if_match(if_match) or request.headers["If-Match"]
        if body is not None and "Content-Type" not in headers:
            # A body without a Content-Type is JSON on every hop (the services read it so);
            # left alone, the client library would label it application/octet-stream.
            headers["Content-Type"] = JSON_CONTENT_TYPE
        # raw_path keeps the client's percent-encoding (e.g. userId=a%2Bb@x.org).
        url = URL(self.base_url + request.raw_path, encoded=True)
        try:
            async with self.session.request(
                upstream_method(request), url, data=body, headers=headers, allow_redirects=False
            ) as response:
                payload = await response.read()
                response_headers = response.headers
                return UpstreamAnswer(
                    status=response.status,
                    body=payload,
                    content_type=response_headers.get("Content-Type"),
                    location=response_headers.get("Location"),
                    retry_after=response_headers.get("Retry-After"),
                    etag=response_headers.get(ETAG_HEADER),
                    replayed=response_headers.get(REPLAYED_HEADER),
                )
        except TimeoutError:
            log.warning("%s %s: %s timed out", request.method, request.path, self.name)
            raise ApiError(504, self._msg_timeout) from None
        except aiohttp.ClientError as exc:
            log.warning(
                "%s %s: %s failed: %s", request.method, request.path, self.name, type(exc).__name__
            )
            raise ApiError(502, self._msg_unreachable) from None

    def rewrite_location(self, location: str, request: web.Request) -> str:
        """The upstream's Location as a URL of this BFF (same path, BFF scheme and host)."""
        path_qs = URL(location, encoded=True).raw_path_qs
        if self._base_path and path_qs.startswith(self._base_path + "/"):
            path_qs = path_qs[len(self._base_path) :]
        return public_base_url(request) + path_qs

    def respond(
        self, request: web.Request, answer: UpstreamAnswer, mobile_rules: MobileRules = ()
    ) -> web.Response:
        """The client's response: relayed status/body, mobile shaping of single GETs."""
        body = answer.body
        is_json = is_json_content_type(answer.content_type)
        if body and not is_json:
            log.warning(
                "%s %s: %s answered %d with %s, not JSON",
                request.method, request.path, self.name, answer.status, answer.content_type,
            )
            raise ApiError(502, self._msg_invalid)
        shaped = self.is_shaped(request, mobile_rules)
        client: ClientType = request.get(CLIENT_TYPE_KEY, ClientType.DESKTOP)
        method = upstream_method(request)
        if answer.status == 200 and body and shaped:
            try:
                body = orjson.dumps(shape(mobile_rules, client, method, orjson.loads(body)))
            except orjson.JSONDecodeError:
                raise ApiError(502, self._msg_invalid) from None
        headers: dict[str, str] = {}
        if answer.content_type is not None and body:
            headers["Content-Type"] = answer.content_type
        if answer.location is not None:
            headers["Location"] = self.rewrite_location(answer.location, request)
        if answer.retry_after is not None:
            headers["Retry-After"] = answer.retry_after
        if answer.etag is not None:
            headers[ETAG_HEADER] = shaped_etag(answer.etag) if shaped else answer.etag
        if answer.replayed is not None:
            headers[REPLAYED_HEADER] = answer.replayed
        return web.Response(status=answer.status, body=body or None, headers=headers)

    @staticmethod
    def is_shaped(request: web.Request, mobile_rules: MobileRules) -> bool:
        """Whether this client gets the resource reshaped (a mobile GET or HEAD)."""
        client: ClientType = request.get(CLIENT_TYPE_KEY, ClientType.DESKTOP)
        return needs_shaping(mobile_rules, client, upstream_method(request))

    async def relay(
        self, request: web.Request, mobile_rules: MobileRules = ()
    ) -> web.Response:
        answer = await self.forward(request, self.is_shaped(request, mobile_rules))
        return self.respond(request, answer, mobile_rules)


def upstream_context(
    upstream: Upstream,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context opening the upstream's pooled session for the app's lifetime."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        await upstream.start()
        try:
            yield
        finally:
            await upstream.close()

    return context


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """A BFF route forwarded as-is; `mobile_rules` reshape the single resource a GET returns."""

    method: str
    path: str
    mobile_rules: MobileRules = ()


def add_proxy_routes(
    app: web.Application, upstream_key: web.AppKey[Upstream], routes: tuple[ProxyRoute, ...]
) -> None:
    for route in routes:
        handler = _proxy_handler(upstream_key, route.mobile_rules)
        if route.method == "GET":
            app.router.add_get(route.path, handler)  # and HEAD
        else:
            app.router.add_route(route.method, route.path, handler)


def _proxy_handler(
    upstream_key: web.AppKey[Upstream], mobile_rules: MobileRules
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await request.app[upstream_key].relay(request, mobile_rules)

    return handler
