"""The CRM service: starts without a broker, reports readiness, runs as `python -m crm`."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from crm.app import create_app
from libcommon.events import build_customer_registered
from tests.crm.helpers import crm_settings, publish
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.procs import ServiceProcess
from tests.outbox.helpers import customer, eventually, unique

pytestmark = pytest.mark.kafka


async def test_starts_without_broker_and_becomes_ready_when_it_appears(
    tmp_path: Path, tansu_broker_factory: Callable[..., TansuBroker], aiohttp_client: Any
) -> None:
    broker = tansu_broker_factory(start=False)
    settings = crm_settings(tmp_path, broker.bootstrap, unique("ready"))
    client = await aiohttp_client(create_app(settings))

    status = await client.get("/status")
    assert status.status == 200 and await status.text() == "OK"
    ready = await client.get("/ready")
    assert ready.status == 503
    body = await ready.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["kafka"].startswith("broker not connected")

    await asyncio.to_thread(broker.start)

    async def is_ready() -> bool:
        return bool((await client.get("/ready")).status == 200)

    await eventually(is_ready, timeout_s=10, every_s=0.1)
    metrics = await (await client.get("/metrics")).text()
    assert "crm_mails_sent_total" in metrics
    assert "crm_kafka_connected 1.0" in metrics
    spec = await (await client.get("/openapi.json")).json()
    assert set(spec["paths"]) == {"/status", "/ready", "/metrics"}


async def test_python_m_crm_mails_from_a_fresh_sqlite_file(
    tmp_path: Path, tansu_broker: TansuBroker, service_process: Callable[..., ServiceProcess]
) -> None:
    topic = unique("proc")
    mail_dir = tmp_path / "mail"
    crm = service_process("crm", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/crm.db",
        "KAFKA_BOOTSTRAP_SERVERS": tansu_broker.bootstrap,
        "KAFKA_CUSTOMER_TOPIC": topic,
        "CRM_CONSUMER_GROUP": unique("crm"),
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "MAIL_BACKEND": "file",
        "MAIL_DIR": str(mail_dir),
        "STORE_OWNER": "Process Owner",
    })
    record = build_customer_registered(customer(5))
    await publish(tansu_broker.bootstrap, topic, [(record.value, record.kafka_headers())])
    await eventually(lambda: len(list(mail_dir.glob("*.eml"))) == 1, timeout_s=15)
    [eml] = mail_dir.glob("*.eml")
    assert eml.name == f"{record.event_id}.eml"
    assert "Welcome to the Book store created by Process Owner." in eml.read_text()

    def ready() -> dict[str, Any]:
        with urllib.request.urlopen(f"{crm.url}/ready", timeout=3) as response:
            result: dict[str, Any] = orjson.loads(response.read())
            return result

    assert (await asyncio.to_thread(ready))["checks"] == {"database": "ok", "kafka": "ok"}
    assert crm.stop() == 0


def test_bad_configuration_stops_with_a_one_line_error(
    service_process: Callable[..., ServiceProcess],
) -> None:
    crm = service_process("crm", {"MAIL_BACKEND": "carrier-pigeon"}, wait=False)
    assert crm.proc is not None
    assert crm.proc.wait(20) == 2
    assert "MAIL_BACKEND" in crm.log()
