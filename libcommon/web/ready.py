"""`/status` (the process answers) and `/ready` (every required check passes; informational
checks are reported but do not make the service unready)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from libcommon.jsonio import json_response

ReadyCheck = Callable[[], Awaitable[object]]

READY_CHECKS_KEY = web.AppKey("ready_checks", dict[str, ReadyCheck])
READY_INFORMATIONAL_KEY = web.AppKey("ready_informational", set[str])
READY_CHECK_TIMEOUT_S = 2.0


async def status_handler(request: web.Request) -> web.Response:
    return web.Response(text="OK", content_type="text/plain")


async def _run_check(check: ReadyCheck) -> str:
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            result = await check()
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        return str(exc) or type(exc).__name__
    return result if isinstance(result, str) and result != "ok" else "ok"


async def ready_handler(request: web.Request) -> web.Response:
    checks = request.app[READY_CHECKS_KEY]
    names = list(checks)
    results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    informational = request.app[READY_INFORMATIONAL_KEY]
    healthy = all(result == "ok" for name, result in report.items() if name not in informational)
    return json_response(
        {"status": "ok" if healthy else "unavailable", "checks": report},
        status=200 if healthy else 503,
    )


def add_ready_check(
    app: web.Application, name: str, check: ReadyCheck, *, required: bool = True
) -> None:
    """Register a readiness check: it raises (or returns a reason string) when unhealthy.
    A check that is not `required` is only reported (e.g. the database writer while the
    reader serves reads)."""
    app[READY_CHECKS_KEY][name] = check
    if required:
        app[READY_INFORMATIONAL_KEY].discard(name)
    else:
        app[READY_INFORMATIONAL_KEY].add(name)
