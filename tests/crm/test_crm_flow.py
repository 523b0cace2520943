"""End to end against real components: outbox → relay → Tansu → CRM → file / SES / SMTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from crm.consumer import CrmConsumer
from crm.mail import FileMailer, create_mailer
from libcommon.db import Database
from libcommon.events import build_customer_registered
from libcommon.kafka import KafkaSettings, create_producer
from libcommon.outbox.relay import OutboxRelay
from libcommon.outbox.store import enqueue
from tests.crm.helpers import assert_welcome, crm_settings, open_crm_db, publish, running_crm
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.mail import DEFAULT_SENDER, MotoSes, SmtpServer
from tests.outbox.helpers import customer, eventually, open_outbox_db, read_topic, unique

pytestmark = pytest.mark.kafka
SENDER = f"Book Store <{DEFAULT_SENDER}>"


@pytest.fixture
async def outbox_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = await open_outbox_db(f"sqlite+aiosqlite:///{tmp_path}/customers.db")
    yield db
    await db.close()


def relay_for(db: Database, bootstrap: str) -> OutboxRelay:
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap, kafka_request_timeout_ms=2000)
    return OutboxRelay(db, lambda: create_producer(settings, client_id="relay"),
                       poll_interval_s=0.5, backoff_initial_s=0.05, backoff_max_s=0.3,
                       publish_timeout_s=3)


async def enqueue_customer(db: Database, topic: str, body: dict[str, Any]) -> str:
    record = build_customer_registered(body)
    async with db.transaction() as tx:
        await enqueue(tx, topic=topic, key=record.key, payload=record.value,
                      headers=record.headers, event_id=record.event_id)
    return record.event_id


def good(n: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    record = build_customer_registered(customer(n))
    return record.value, record.kafka_headers()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def eml_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.eml")) if directory.exists() else []


@pytest.mark.parametrize("backend", ["file", "ses", "smtp"])
async def test_one_registration_one_welcome_mail(
    backend: str, tmp_path: Path, outbox_db: Database, tansu_broker: TansuBroker,
    request: pytest.FixtureRequest,
) -> None:
    topic = unique("customers")
    overrides: dict[str, Any] = {"mail_backend": backend, "mail_from": SENDER}
    smtp: SmtpServer | None = None
    ses: MotoSes | None = None
    if backend == "smtp":
        smtp = request.getfixturevalue("smtp_server")
        overrides |= {"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": "none"}
    elif backend == "ses":
        ses = request.getfixturevalue("moto_ses")
        overrides |= {"ses_endpoint_url": ses.endpoint_url, "aws_region": ses.region}
    settings = crm_settings(tmp_path, tansu_broker.bootstrap, topic, **overrides)
    mail_dir = Path(settings.mail_dir)

    def delivered() -> list[Any]:
        if smtp is not None:
            return [m.message for m in smtp.received()]
        if ses is not None:
            return ses.sent()
        return [_read_eml(p) for p in eml_files(mail_dir)]

    relay = relay_for(outbox_db, tansu_broker.bootstrap)
    await relay.start()
    async with running_crm(settings, create_mailer(settings)) as crm:
        await eventually(lambda: crm.connected, timeout_s=10)
        body = customer(7, name="Zoë O\u2019Neil", userId="zoe+books@example.com")
        started = time.monotonic()
        await enqueue_customer(outbox_db, topic, body)
        relay.notify()
        await eventually(lambda: len(delivered()) >= 1, timeout_s=15)
        latency = time.monotonic() - started
        await asyncio.sleep(0.3)  # nothing else may arrive
        [msg] = delivered()
        assert_welcome(msg, to="zoe+books@example.com", name="Zoë O\u2019Neil",
                       owner="Test Owner", sender=SENDER)
    await relay.stop()
    print(f"\n[latency] {backend}: enqueue → mail accepted {latency * 1000:.0f} ms")


def _read_eml(path: Path) -> Any:
    import email
    import email.policy

    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


async def test_broker_outage_loses_nothing_and_blocks_nothing(
    tmp_path: Path, outbox_db: Database, tansu_broker_factory: Callable[..., TansuBroker]
) -> None:
    broker = tansu_broker_factory(start=False)
    topic = unique("outage")
    settings = crm_settings(tmp_path, broker.bootstrap, topic)
    relay = relay_for(outbox_db, broker.bootstrap)
    await relay.start()
    async with running_crm(settings, FileMailer(settings.mail_dir)) as crm:
        started = time.monotonic()
        for n in range(1, 21):
            await enqueue_customer(outbox_db, topic, customer(n))
            relay.notify()
        assert time.monotonic() - started < 2.0
        await asyncio.sleep(0.5)
        assert not crm.connected
        assert (await relay.lag()).pending == 20
        assert eml_files(Path(settings.mail_dir)) == []

        await asyncio.to_thread(broker.start)
        back = time.monotonic()
        await eventually(lambda: len(eml_files(Path(settings.mail_dir))) == 20, timeout_s=20)
        print(f"\n[latency] broker back → 20 mails {(time.monotonic() - back) * 1000:.0f} ms")
    await relay.stop()
    recipients = sorted(str(_read_eml(p)["To"]) for p in eml_files(Path(settings.mail_dir)))
    assert recipients == sorted(f"user{n}@example.com" for n in range(1, 21))


@pytest.mark.parametrize("dedupe_db", ["sqlite", "mysql"])
async def test_crash_between_mail_and_commit_sends_no_duplicate(
    dedupe_db: str, tmp_path: Path, tansu_broker: TansuBroker, smtp_server: SmtpServer,
    request: pytest.FixtureRequest,
) -> None:
    topic = unique("crash")
    overrides: dict[str, Any] = {"mail_backend": "smtp", "smtp_host": smtp_server.host,
                                 "smtp_port": smtp_server.port, "smtp_security": "none"}
    if dedupe_db == "mysql":
        overrides["database_url"] = request.getfixturevalue("mysql_database")()
    settings = crm_settings(tmp_path, tansu_broker.bootstrap, topic, **overrides)
    await publish(tansu_broker.bootstrap, topic, [good(1)])
    db = await open_crm_db(settings.database_url)
    try:
        commit_reached = asyncio.Event()

        async def die_before_commit(record: Any) -> None:
            commit_reached.set()
            await asyncio.Event().wait()  # "killed" here: the offset is never committed

        async with running_crm(settings, create_mailer(settings), db) as first:
            first._commit = die_before_commit  # type: ignore[method-assign]
            await asyncio.wait_for(commit_reached.wait(), timeout=10)
        assert len(smtp_server.received()) == 1

        skipped = metric("crm_duplicate_events_skipped_total")
        async with running_crm(settings, create_mailer(settings), db) as second:
            await eventually(lambda: metric("crm_duplicate_events_skipped_total") > skipped,
                             timeout_s=10)
            assert second.connected
        await asyncio.sleep(0.2)
        assert len(smtp_server.received()) == 1
    finally:
        await db.close()


async def test_poison_message_is_dead_lettered_between_good_ones(
    tmp_path: Path, tansu_broker: TansuBroker, smtp_server: SmtpServer
) -> None:
    topic = unique("poison")
    settings = crm_settings(tmp_path, tansu_broker.bootstrap, topic, mail_backend="smtp",
                            smtp_host=smtp_server.host, smtp_port=smtp_server.port,
                            smtp_security="none")
    poison = (b'{"id": 2, "userId": "broken', [("event-id", b"poison-1")])
    bad_email = (orjson.dumps(customer(3, userId="nobody")), [("event-id", b"poison-2")])
    await publish(tansu_broker.bootstrap, topic, [good(1), poison, bad_email, good(4)])
    dead_before = metric("crm_events_dead_lettered_total", code="invalid-json")
    async with running_crm(settings, create_mailer(settings)):
        received = await smtp_server.wait_for_async(2, timeout_s=15)
    assert sorted(r.rcpt_tos[0] for r in received) == ["user1@example.com", "user4@example.com"]
    assert metric("crm_events_dead_lettered_total", code="invalid-json") == dead_before + 1

    dead = await read_topic(tansu_broker.bootstrap, f"{topic}.dlt", 2)
    by_id = {dict(r.headers)["event-id"]: r for r in dead}
    assert set(by_id) == {b"poison-1", b"poison-2"}
    first = dict(by_id[b"poison-1"].headers)
    assert by_id[b"poison-1"].value == poison[0]
    assert first["dlt-code"] == b"invalid-json"
    assert first["dlt-reason"].startswith(b"value is not JSON")
    assert first["dlt-source-topic"] == topic.encode()
    assert first["dlt-source-offset"] == b"1"
    assert b"userId" in dict(by_id[b"poison-2"].headers)["dlt-reason"]


async def test_smtp_outage_is_retried_without_committing(
    tmp_path: Path, tansu_broker: TansuBroker, smtp_server: SmtpServer
) -> None:
    topic = unique("smtpdown")
    settings = crm_settings(tmp_path, tansu_broker.bootstrap, topic, mail_backend="smtp",
                            smtp_host=smtp_server.host, smtp_port=smtp_server.port,
                            smtp_security="none", smtp_timeout_s=1)
    smtp_server.stop()
    await publish(tansu_broker.bootstrap, topic, [good(1), good(2)])
    failures = metric("crm_mail_failures_total", backend="smtp", kind="transient")
    async with running_crm(settings, create_mailer(settings)) as crm:
        await eventually(lambda: metric("crm_mail_failures_total", backend="smtp", kind="transient")
                         >= failures + 3, timeout_s=10)
        assert crm._consumer is not None
        assert await crm._consumer.committed(TopicPartition(topic, 0)) is None
        await asyncio.to_thread(smtp_server.start)
        received = await smtp_server.wait_for_async(2, timeout_s=10)
        await eventually(lambda: _committed(crm, topic, 2), timeout_s=5)
    assert [r.rcpt_tos for r in received] == [["user1@example.com"], ["user2@example.com"]]


async def _committed(crm: CrmConsumer, topic: str, offset: int) -> bool:
    assert crm._consumer is not None
    committed = await crm._consumer.committed(TopicPartition(topic, 0))
    return bool(committed == offset)


