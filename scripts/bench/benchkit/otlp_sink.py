"""An OTLP/HTTP trace endpoint that accepts and drops what it gets: where the traced twins of
the tracing cases export (a real receiver, so the exporters do their full work, without the
cost of decoding on this machine's two cores). Counts requests and bytes at GET /_count.

    python -m benchkit.otlp_sink --port 13093      (with scripts/bench on PYTHONPATH)
"""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

STATS_KEY = web.AppKey("stats", dict[str, int])


async def export(request: web.Request) -> web.Response:
    body = await request.read()
    stats = request.app[STATS_KEY]
    stats["requests"] += 1
    stats["bytes"] += len(body)
    # An empty ExportTraceServiceResponse is zero bytes of protobuf.
    return web.Response(body=b"", content_type="application/x-protobuf")


async def count(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATS_KEY])


async def status(request: web.Request) -> web.Response:
    return web.Response(text="OK")


def create_app() -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STATS_KEY] = {"requests": 0, "bytes": 0}
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/_count", count)
    app.router.add_get("/status", status)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=13093)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
