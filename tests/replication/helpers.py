"""Helpers shared by the replication tests: service settings on the pair, the routed database
of an in-process app, its routing metrics, and polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from libcommon.db.routing import RoutedDatabase
from libcommon.dbapp import DB_KEY
from svc_book.settings import Settings as BookSettings

Client = TestClient[web.Request, web.Application]
INTERVAL_S = 0.1


def book_settings(urls: tuple[str, str], tmp_path: Path, **overrides: Any) -> BookSettings:
    writer, reader = urls
    options: dict[str, Any] = {
        "database_url": writer, "database_read_url": reader, "migrate_on_start": "true",
        "breaker_state_file": str(tmp_path / "breaker.json"), "access_log": False,
        "db_health_interval_s": INTERVAL_S, "db_connect_timeout_s": 1.0,
        # The recommender is not under test: nothing listens there, the breaker copes.
        "recommender_url": "http://127.0.0.1:9",
    }
    options.update(overrides)
    return BookSettings(**options)


def routed(client: Client) -> RoutedDatabase:
    assert client.app is not None
    db = client.app[DB_KEY]
    assert isinstance(db, RoutedDatabase)
    return db


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def queries(pool: str, kind: str, database: str = "svc_book") -> float:
    return metric("db_queries_total", database=database, pool=pool, kind=kind)


def fallbacks(reason: str, database: str = "svc_book") -> float:
    return metric("db_read_fallbacks_total", database=database, reason=reason)


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.02)
