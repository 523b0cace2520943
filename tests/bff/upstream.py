"""A real aiohttp app standing in for the Book/Customer services in BFF tests.

It records every request it gets and answers from a per-test script, so the tests check
what crosses the wire in both directions.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from tests.builders import book, customer

# What the stand-in services answer: the builders' samples, the customer with its id.
BOOK = book()
CUSTOMER = {"id": 7, **customer("starlord+2@gmail.com")}


@dataclass
class Seen:
    method: str
    raw_path: str
    headers: dict[str, str]
    body: bytes
    peer_port: int


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class FakeService:
    """`answer(method, path, ...)` scripts a reply; unscripted requests get a JSON 404."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: dict[tuple[str, str], Scripted] = {}
        self.base_url = ""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.app = app

    def answer(
        self,
        method: str,
        path: str,
        status: int = 200,
        json: Any = None,
        *,
        body: bytes | None = None,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        raw = body if body is not None else (orjson.dumps(json) if json is not None else b"")
        self.script[(method, path)] = Scripted(status, raw, content_type, headers or {}, delay_s)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/status":
            return web.Response(text="OK")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(
                request.method,
                request.raw_path,
                dict(request.headers),
                await request.read(),
                peer[1] if peer else 0,
            )
        )
        scripted = self.script.get((request.method, request.path))
        if scripted is None:
            return web.json_response({"message": "not scripted"}, status=404)
        if scripted.delay_s:
            await asyncio.sleep(scripted.delay_s)
        response = web.Response(status=scripted.status, body=scripted.body or None)
        if scripted.content_type is not None:
            response.headers["Content-Type"] = scripted.content_type
        response.headers.update(scripted.headers)
        return response
