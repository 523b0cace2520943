"""The outbox rows the service writes are relayed as the contract's Kafka record."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from libcommon.db import Database
from libcommon.outbox.relay import OutboxRelay
from tests.builders import customer

Client = TestClient[web.Request, web.Application]


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int | None = None, timestamp_ms: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Any:
        self.sent.append({"topic": topic, "value": value, "key": key, "headers": headers})

        async def acked() -> None:
            return None

        return acked()


async def test_registered_event_reaches_the_producer_as_the_201_body(
    client: Client, db: Database
) -> None:
    first = await client.post("/customers", json=customer("a+b@x.io"))
    # Non-ASCII, astral and control characters: the payload must survive byte for byte.
    second = await client.post("/customers", json=customer(
        "zoë@x.io", name="Zoë 🏙️ 東京 \x00 \u0085 \"q\"", address2=None))
    bodies = [await first.read(), await second.read()]
    producer = RecordingProducer()
    relay = OutboxRelay(db, lambda: producer)
    assert await relay.run_once() == 2
    assert [record["value"] for record in producer.sent] == bodies
    ids = [orjson.loads(body)["id"] for body in bodies]
    assert [record["key"] for record in producer.sent] == [str(i).encode() for i in ids]
    assert {record["topic"] for record in producer.sent} == {"bookstore.customer.evt"}
    event_ids = [dict(record["headers"])["event-id"] for record in producer.sent]
    assert len(set(event_ids)) == 2 and all(event_ids)
    assert all(dict(r["headers"])["event-type"] == b"customer.registered" for r in producer.sent)
    assert b"address2" not in producer.sent[1]["value"]
    assert (await relay.lag()).pending == 0
    assert await relay.run_once() == 0
