"""The floor case: the cheapest aiohttp service possible on this machine.

One process, uvloop, no middleware, no access log: every GET answers the same book-sized JSON
body. Service throughput is reported as a percentage of this one, measured in the same run.
POSTs answer 201 and are counted, with their distinct ISBN/userId keys (GET /_count), so the
harness's own write-case bookkeeping can be tested against a server that needs no database.

    python -m benchkit.floor --port 13090      (with scripts/bench on PYTHONPATH)
"""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

BODY = (
    b'{"ISBN":"978-0-321-55268-6","title":"Documenting Software Architectures: Views and Beyond",'
    b'"Author":"Paul Clements, Felix Bachmann, Len Bass, David Garlan","description":"How to '
    b'capture an architecture in views that stakeholders can use.","genre":"non-fiction",'
    b'"price":59.95,"quantity":106}'
)
POSTS_KEY = web.AppKey("posts", list[int])
KEYS_KEY = web.AppKey("keys", set[str])


async def constant(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def created(request: web.Request) -> web.Response:
    body = await request.json()
    request.app[POSTS_KEY][0] += 1
    request.app[KEYS_KEY].add(str(body.get("ISBN") or body.get("userId")))
    return web.Response(status=201, body=b"{}", content_type="application/json")


async def count(request: web.Request) -> web.Response:
    return web.json_response({"posts": request.app[POSTS_KEY][0],
                              "distinct_keys": len(request.app[KEYS_KEY])})


def create_app() -> web.Application:
    app = web.Application()
    app[POSTS_KEY] = [0]
    app[KEYS_KEY] = set()
    app.router.add_get("/_count", count)
    app.router.add_get("/{tail:.*}", constant)
    app.router.add_post("/{tail:.*}", created)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=13090)
    parser.add_argument("--access-log", action="store_true",
                        help="log every request with aiohttp's default access logger")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    access_log = None
    if args.access_log:
        # aiohttp's default: one logging record per request, to stderr (the floor-logged case).
        logging.basicConfig(level=logging.INFO)
        access_log = logging.getLogger("aiohttp.access")
    web.run_app(create_app(), host=args.host, port=args.port, access_log=access_log, print=None)


if __name__ == "__main__":
    main()
