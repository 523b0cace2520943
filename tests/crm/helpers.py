"""Helpers for CRM tests: settings, a migrated dedupe database, a running consumer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from crm.consumer import CrmConsumer
from crm.mail import Mailer
from crm.settings import Settings
from libcommon.db import Database, connect
from libcommon.migrate import migrate_sync
from tests.outbox.helpers import unique

EXPECTED_SUBJECT = "Activate your book store account"


def expected_body(name: str, owner: str) -> str:
    return (
        f"Dear {name},\n"
        f"Welcome to the Book store created by {owner}.\n"
        "Exceptionally this time we won\u2019t ask you to click a link to activate your account.\n"
    )


def assert_welcome(msg: EmailMessage, *, to: str, name: str, owner: str, sender: str) -> None:
    assert msg["To"] == to
    assert msg["From"] == sender
    assert msg["Subject"] == EXPECTED_SUBJECT
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    body = msg.get_content().replace("\r\n", "\n")
    assert body == expected_body(name, owner)
    assert len(body.splitlines()) == 3


def crm_settings(tmp_path: Path, bootstrap: str, topic: str, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path}/crm.db",
        "kafka_bootstrap_servers": bootstrap,
        "kafka_customer_topic": topic,
        "crm_consumer_group": unique("crm"),
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 500,
        "kafka_request_timeout_ms": 3000,
        "kafka_connect_backoff_max_s": 0.5,
        "mail_backend": "file",
        "mail_dir": str(tmp_path / "mail"),
        "mail_retry_initial_s": 0.05,
        "mail_retry_max_s": 0.3,
        "store_owner": "Test Owner",
    }
    options.update(overrides)
    return Settings(**options)


async def open_crm_db(url: str) -> Database:
    await asyncio.to_thread(migrate_sync, "crm", url)
    return await connect(url, pool_min=1, pool_max=4)


@asynccontextmanager
async def running_crm(
    settings: Settings, mailer: Mailer, db: Database | None = None
) -> AsyncIterator[CrmConsumer]:
    own_db = db is None
    database = db or await open_crm_db(settings.database_url)
    consumer = CrmConsumer(settings, database, mailer)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
        await mailer.close()
        if own_db:
            await database.close()


async def publish(bootstrap: str, topic: str,
                  records: list[tuple[bytes | None, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value, headers in records:
            await producer.send_and_wait(topic, value=value, key=b"k", partition=0,
                                         headers=headers)
    finally:
        await producer.stop()
