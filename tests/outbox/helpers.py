"""Shared helpers for outbox and CRM integration tests."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from libcommon.db import Database, connect
from libcommon.kafka import KafkaSettings, create_producer
from libcommon.migrate import migrate_sync
from libcommon.outbox.relay import OutboxRelay


async def open_outbox_db(url: str) -> Database:
    """A database with the outbox table as the Customer service's migrations create it."""
    await asyncio.to_thread(migrate_sync, "svc_customer", url)
    return await connect(url, pool_min=1, pool_max=6)


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


def make_relay(db: Database, bootstrap: str, **options: Any) -> OutboxRelay:
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap, kafka_request_timeout_ms=2000)
    options = {"poll_interval_s": 0.2, "backoff_initial_s": 0.05, "backoff_max_s": 0.3,
               "publish_timeout_s": 3.0, **options}
    return OutboxRelay(db, lambda: create_producer(settings, client_id="test-relay"), **options)
