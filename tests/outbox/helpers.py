"""Shared helpers for outbox and CRM integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from libcommon.db import Database, connect

OUTBOX_DDL = {
    "mysql": (
        "CREATE TABLE outbox ("
        " id BIGINT AUTO_INCREMENT PRIMARY KEY,"
        " event_id VARCHAR(64) NOT NULL UNIQUE,"
        " topic VARCHAR(255) NOT NULL,"
        " msg_key VARCHAR(255) NULL,"
        " payload LONGBLOB NOT NULL,"
        " headers TEXT NOT NULL,"
        " created_at_ms BIGINT NOT NULL,"
        " sent_at_ms BIGINT NULL,"
        " traceparent VARCHAR(55) NULL,"
        " INDEX ix_outbox_pending (sent_at_ms, id)"
        ") ENGINE=InnoDB CHARACTER SET utf8mb4"
    ),
    "sqlite": (
        "CREATE TABLE outbox ("
        " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        " event_id VARCHAR(64) NOT NULL UNIQUE,"
        " topic VARCHAR(255) NOT NULL,"
        " msg_key VARCHAR(255) NULL,"
        " payload BLOB NOT NULL,"
        " headers TEXT NOT NULL,"
        " created_at_ms BIGINT NOT NULL,"
        " sent_at_ms BIGINT NULL,"
        " traceparent VARCHAR(55) NULL)"
    ),
}
OUTBOX_INDEX_SQLITE = "CREATE INDEX ix_outbox_pending ON outbox (sent_at_ms, id)"


async def open_outbox_db(url: str) -> Database:
    db = await connect(url, pool_min=1, pool_max=6)
    await db.execute(OUTBOX_DDL[db.dialect])
    if db.dialect == "sqlite":
        await db.execute(OUTBOX_INDEX_SQLITE)
    return db


def unique(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def customer(n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": n,
        "userId": f"user{n}@example.com",
        "name": f"Customer Nº{n}",
        "phone": "+1-412-555-0100",
        "address": "5000 Forbes Ave",
        "city": "Pittsburgh",
        "state": "PA",
        "zipcode": "15213",
    }
    body.update(overrides)
    return body


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], timeout_s: float = 10.0, every_s: float = 0.02
) -> float:
    """Wait until `check()` is true; returns the seconds it took."""
    started = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(every_s)


async def read_topic(
    bootstrap: str, topic: str, count: int, timeout_s: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """The first `count` records of a topic, read without a consumer group (no join delay)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batch = await consumer.getmany(timeout_ms=200)
                for part in batch.values():
                    records.extend(part)
    finally:
        await consumer.stop()
    return records
