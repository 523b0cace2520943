"""The outbox relay against real MariaDB/SQLite and a real broker (Tansu)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import orjson
import pytest

from libcommon.db import Database
from libcommon.events import build_customer_registered
from libcommon.outbox.relay import OutboxRelay
from libcommon.outbox.store import enqueue
from tests.fixtures.kafka import TansuBroker
from tests.outbox.helpers import (
    customer,
    eventually,
    make_relay,
    open_outbox_db,
    read_topic,
    unique,
)

pytestmark = pytest.mark.kafka


@pytest.fixture(params=["mysql", "sqlite"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "mysql":
        url = request.getfixturevalue("mysql_database")()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path}/outbox.db"
    database = await open_outbox_db(url)
    yield database
    await database.close()


async def enqueue_customer(db: Database, topic: str, n: int) -> str:
    record = build_customer_registered(customer(n))
    async with db.transaction() as tx:
        await enqueue(tx, topic=topic, key=record.key, payload=record.value,
                      headers=record.headers, event_id=record.event_id)
    return record.event_id


async def test_relay_publishes_in_order_and_marks_sent(
    db: Database, tansu_broker: TansuBroker
) -> None:
    topic = unique("outbox")
    event_ids = [await enqueue_customer(db, topic, n) for n in range(1, 6)]
    relay = make_relay(db, tansu_broker.bootstrap)
    assert (await relay.lag()).pending == 5
    assert await relay.run_once() == 5
    assert await relay.run_once() == 0
    await relay.stop()

    records = await read_topic(tansu_broker.bootstrap, topic, 5)
    by_key = {r.key: r for r in records}
    assert set(by_key) == {str(n).encode() for n in range(1, 6)}
    for n, event_id in enumerate(event_ids, start=1):
        record = by_key[str(n).encode()]
        assert orjson.loads(record.value) == customer(n)
        assert dict(record.headers) == {"event-id": event_id.encode(),
                                        "event-type": b"customer.registered"}
    rows = await db.fetch_all("SELECT sent_at_ms FROM outbox")
    assert all(row["sent_at_ms"] is not None for row in rows)
    lag = await relay.lag()
    assert (lag.pending, lag.oldest_age_s) == (0, 0.0)


async def test_rolled_back_transaction_leaves_no_event(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await enqueue(tx, topic="t", key="1", payload=b"{}", headers={}, event_id="e1")
            raise RuntimeError("customer insert failed")
    assert await db.fetch_all("SELECT id FROM outbox") == []


async def test_broker_down_enqueue_is_immediate_and_relay_catches_up(
    db: Database, tansu_broker_factory: Callable[..., TansuBroker]
) -> None:
    broker = tansu_broker_factory(start=False)
    topic = unique("outage")
    relay = make_relay(db, broker.bootstrap)
    await relay.start()
    try:
        started = time.monotonic()
        for n in range(1, 21):
            await enqueue_customer(db, topic, n)
            relay.notify()
        enqueue_s = time.monotonic() - started
        assert enqueue_s < 2.0, f"20 enqueues took {enqueue_s:.2f}s with the broker down"
        await asyncio.sleep(0.3)
        lag = await relay.lag()
        assert lag.pending == 20
        assert not relay.connected and relay.last_error

        await asyncio.to_thread(broker.start)
        await eventually(lambda: _pending_is(relay, 0), timeout_s=10)
        # The rows are marked sent before the pass that sent them clears its error: wait for it.
        await eventually(lambda: _recovered(relay), timeout_s=5)
    finally:
        await relay.stop()
    records = await read_topic(broker.bootstrap, topic, 20)
    assert sorted(int(r.key) for r in records) == list(range(1, 21))


async def _recovered(relay: OutboxRelay) -> bool:
    return relay.last_error is None


async def _pending_is(relay: OutboxRelay, expected: int) -> bool:
    return (await relay.lag()).pending == expected


async def test_notify_wakes_the_relay_before_the_poll_interval(
    db: Database, tansu_broker: TansuBroker
) -> None:
    topic = unique("wake")
    relay = make_relay(db, tansu_broker.bootstrap, poll_interval_s=30)
    await relay.start()
    try:
        await eventually(lambda: relay.connected, timeout_s=5)
        await asyncio.sleep(0.1)  # the relay is now in its 30 s poll wait
        await enqueue_customer(db, topic, 1)
        relay.notify()
        took = await eventually(lambda: _pending_is(relay, 0), timeout_s=5)
        assert took < 2.0
    finally:
        await relay.stop()


class BlockingProducer:
    """Accepts sends but never acknowledges them until released."""

    def __init__(self) -> None:
        self.sent: list[bytes | None] = []
        self.release = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, topic: str, value: bytes | None = None, key: bytes | None = None,
                   partition: int | None = None, timestamp_ms: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> asyncio.Future[None]:
        self.sent.append(key)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def ack() -> None:
            await self.release.wait()
            future.set_result(None)

        asyncio.get_running_loop().create_task(ack())
        return future


@pytest.mark.mariadb
async def test_mysql_replicas_skip_locked_rows_and_never_block_inserts(
    mysql_database: Callable[[], str],
) -> None:
    db = await open_outbox_db(mysql_database())
    try:
        for n in range(1, 4):
            await enqueue_customer(db, "t", n)
        slow = BlockingProducer()
        first = OutboxRelay(db, lambda: slow, publish_timeout_s=30)
        first_pass = asyncio.create_task(first.run_once())
        await eventually(lambda: len(slow.sent) == 3, timeout_s=5)

        # While the first relay holds its rows, a new event commits at once...
        started = time.monotonic()
        await asyncio.wait_for(enqueue_customer(db, "t", 4), timeout=2)
        assert time.monotonic() - started < 1.0
        # ...and a second replica publishes only the row nobody holds.
        fast = BlockingProducer()
        fast.release.set()
        second = OutboxRelay(db, lambda: fast)
        assert await second.run_once() == 1
        assert fast.sent == [b"4"]

        slow.release.set()
        assert await first_pass == 3
        assert (await first.lag()).pending == 0
    finally:
        await db.close()
