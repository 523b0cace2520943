"""Send a burst to the Book BFF and report how its request budget answers (not a test).

    .venv/bin/python scripts/ratelimit_burst.py                      # memory storage
    .venv/bin/python scripts/ratelimit_burst.py --storage redis://127.0.0.1:6379/0
    .venv/bin/python scripts/ratelimit_burst.py --processes 2 --storage redis://127.0.0.1:6379/0

Starts a stand-in Book service (a constant book) in this process and `--processes` Book BFF
processes (`python -m bff_book`) with `RATE_LIMIT_READS=--limit`, sends `--requests` GETs with
`--concurrency` in flight (spread over the BFF processes), and prints: requests sent, allowed
(200), refused (429), other answers, the Retry-After values seen, and after waiting the
largest Retry-After, whether the budget is back. Ports: `--base-port` and up.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import jwt
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
BOOK = {"ISBN": "978-0321815736", "title": "t", "Author": "a", "description": "d",
        "genre": "g", "price": 1.0, "quantity": 1}


async def start_upstream(port: int) -> web.AppRunner:
    async def book(_request: web.Request) -> web.Response:
        return web.json_response(BOOK)

    async def status(_request: web.Request) -> web.Response:
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/status", status)
    app.router.add_get("/books/{isbn}", book)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def start_bff(port: int, upstream_port: int, secret: str, args: argparse.Namespace,
              prefix: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT),
           "BOOK_SERVICE_URL": f"http://127.0.0.1:{upstream_port}", "JWT_SECRET": secret,
           "ACCESS_LOG": "false", "LOG_FORMAT": "text", "RATE_LIMIT_READS": args.limit,
           "RATE_LIMIT_STORAGE_URL": args.storage, "RATE_LIMIT_KEY_PREFIX": prefix,
           "RATE_LIMIT_STRATEGY": args.strategy}
    return subprocess.Popen([sys.executable, "-m", "bff_book"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_up(session: aiohttp.ClientSession, url: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url + "/status") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not start")


async def burst(session: aiohttp.ClientSession, urls: list[str], token: str, count: int,
                concurrency: int) -> tuple[collections.Counter[int], collections.Counter[str],
                                           set[str], float]:
    statuses: collections.Counter[int] = collections.Counter()
    retry_after: collections.Counter[str] = collections.Counter()
    policies: set[str] = set()
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "ratelimit-burst/1.0"}
    next_index = iter(range(count))

    async def worker() -> None:
        for n in next_index:
            async with session.get(f"{urls[n % len(urls)]}/books/978-0321815736",
                                   headers=headers) as response:
                await response.read()
                statuses[response.status] += 1
                if response.status == 429:
                    retry_after[response.headers.get("Retry-After", "missing")] += 1
                    policies.add(response.headers.get("RateLimit-Policy", "missing"))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, retry_after, policies, time.perf_counter() - started


async def main_async(args: argparse.Namespace) -> int:
    secret = secrets.token_urlsafe(48)  # the BFF wants 16+ distinct bytes: hex has 16 at most
    token = jwt.encode({"sub": "starlord", "iss": "cmu.edu", "exp": time.time() + 3600},
                       secret, algorithm="HS256")
    upstream = await start_upstream(args.base_port)
    prefix = f"burst-{uuid.uuid4().hex[:8]}"
    procs = [start_bff(args.base_port + 1 + i, args.base_port, secret, args, prefix)
             for i in range(args.processes)]
    urls = [f"http://127.0.0.1:{args.base_port + 1 + i}" for i in range(args.processes)]
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency)
        ) as session:
            for url in urls:
                await wait_up(session, url)
            statuses, retry_after, policies, elapsed = await burst(
                session, urls, token, args.requests, args.concurrency)
            print(f"storage {args.storage}, strategy {args.strategy}, RATE_LIMIT_READS="
                  f"{args.limit}, {args.processes} BFF process(es)")
            print(f"sent {args.requests} GETs in {elapsed:.2f} s ({args.concurrency} in flight)")
            print(f"allowed (200): {statuses.pop(200, 0)}")
            print(f"refused (429): {statuses.pop(429, 0)}")
            print(f"other: {dict(statuses) or 'none'}")
            values = sorted(retry_after.items(), key=lambda kv: (len(kv[0]), kv[0]))
            print("Retry-After values (seconds: count): "
                  + (", ".join(f"{v}: {n}" for v, n in values) or "none"))
            print(f"RateLimit-Policy: {', '.join(sorted(policies)) or 'none'}")
            numeric = [int(v) for v in retry_after if v.isdigit()]
            if numeric and max(numeric) <= args.max_wait_s:
                await asyncio.sleep(max(numeric))
                after, _, _, _ = await burst(session, urls, token, 1, 1)
                print(f"after waiting {max(numeric)} s (the largest Retry-After): "
                      f"{dict(after)}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        await upstream.cleanup()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", default="memory://", help="RATE_LIMIT_STORAGE_URL")
    parser.add_argument("--strategy", default="fixed-window", help="RATE_LIMIT_STRATEGY")
    parser.add_argument("--limit", default="100/10 seconds", help="RATE_LIMIT_READS")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--processes", type=int, default=1,
                        help="BFF processes sharing the storage")
    parser.add_argument("--base-port", type=int, default=27100)
    parser.add_argument("--max-wait-s", type=int, default=15,
                        help="wait the largest Retry-After (when at most this) and try again")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
