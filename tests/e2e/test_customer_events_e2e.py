"""A customer registers (and retries with its Idempotency-Key) → exactly one welcome e-mail,
with real processes end to end:
Customer BFF → svc_customer (MariaDB, outbox) → Tansu (Kafka protocol) → crm (MariaDB dedupe)
→ .eml file. The broker is down while the customers register; the CRM is killed afterwards."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.builders import DESKTOP_UA, SECRET, make_token

pytestmark = pytest.mark.slow

COUNT = 20


def customer(n: int) -> dict[str, Any]:
    return {"userId": f"reader{n}+news@example.com", "name": f"Reader Nº{n}", "phone": "555-0100",
            "address": "1 Main St", "city": "Pittsburgh", "state": "pa", "zipcode": "15213"}


async def test_broker_outage_loses_no_welcome_email(
    service_process: Callable[..., Any], tansu_broker_factory: Callable[..., Any],
    mysql_database: Callable[[], str], tmp_path: Path,
) -> None:
    broker = tansu_broker_factory(start=False)  # down while customers register
    mail_dir = tmp_path / "mail"
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "KAFKA_CUSTOMER_TOPIC": "e2e.customer",
             "OUTBOX_BACKOFF_MAX_S": "0.5"}
    service = service_process("svc_customer", {
        **kafka, "DATABASE_URL": mysql_database(), "MIGRATE_ON_START": "true"})
    bff = service_process("bff_customer", {"CUSTOMER_SERVICE_URL": service.url,
                                           "JWT_SECRET": SECRET})
    crm = service_process("crm", {
        **kafka, "DATABASE_URL": mysql_database(), "MIGRATE_ON_START": "true",
        "MAIL_BACKEND": "file", "MAIL_DIR": str(mail_dir), "STORE_OWNER": "Ada Lovelace",
        "KAFKA_SESSION_TIMEOUT_MS": "2000", "KAFKA_HEARTBEAT_INTERVAL_MS": "500"})
    headers = {"Authorization": f"Bearer {make_token()}", "User-Agent": DESKTOP_UA}

    async with aiohttp.ClientSession() as session:
        async def register(n: int) -> tuple[int, float, str | None]:
            started = time.perf_counter()
            async with session.post(f"{bff.url}/customers", json=customer(n), headers={
                    **headers, "Idempotency-Key": f"signup-{n}"}) as response:
                await response.read()
                replayed = response.headers.get("Idempotent-Replayed")
                return response.status, time.perf_counter() - started, replayed

        results = await asyncio.gather(*(register(n) for n in range(COUNT)))
        assert [status for status, _, _ in results] == [201] * COUNT
        assert max(elapsed for _, elapsed, _ in results) < 2.0  # never waits for the broker
        # Every client retries (a lost answer, say): the same 201, no second e-mail (below).
        retries = await asyncio.gather(*(register(n) for n in range(COUNT)))
        assert {(status, replayed) for status, _, replayed in retries} == {(201, "true")}
        async with session.get(f"{crm.url}/ready") as response:
            assert response.status == 503  # no broker yet

        broker.start()
        deadline = time.monotonic() + 60
        while len(list(mail_dir.glob("*.eml"))) < COUNT and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything extra (a duplicate) would show up by now

        async with session.get(f"{crm.url}/ready") as response:
            assert response.status == 200

        # A CRM killed and restarted resumes from committed offsets: nothing is mailed again.
        crm.kill()
        crm.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with session.get(f"{crm.url}/ready") as response:
                if response.status == 200:
                    break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)

    mails = [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
             for path in sorted(mail_dir.glob("*.eml"))]
    assert len(mails) == COUNT, (len(mails), crm.log()[-3000:])
    assert sorted(str(m["To"]) for m in mails) == sorted(customer(n)["userId"] for n in range(COUNT))
    sample = next(m for m in mails if str(m["To"]) == "reader7+news@example.com")
    assert sample["Subject"] == "Activate your book store account"
    # RFC 5322 files end lines with CRLF.
    assert sample.get_content().splitlines() == [
        "Dear Reader Nº7,",
        "Welcome to the Book store created by Ada Lovelace.",
        "Exceptionally this time we won\u2019t ask you to click a link to activate your account.",
    ]
