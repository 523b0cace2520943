"""The outbox carries the writer's request across the asynchronous hop: the request id as a
record header, and (tracing on) the trace context via the `traceparent` column to the relay's
publish span and the record's `traceparent` header."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.sdk.trace import TracerProvider

from libcommon import tracing
from libcommon.db import Database
from libcommon.db.traced import TracedDatabase
from libcommon.events import build_customer_registered
from libcommon.logs import request_id_var
from libcommon.outbox.store import enqueue
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.otlp import OtlpReceiver
from tests.outbox.helpers import customer, make_relay, open_outbox_db, read_topic, unique

pytestmark = pytest.mark.kafka


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_outbox_db(f"sqlite+aiosqlite:///{tmp_path}/outbox.db")
    yield database
    await database.close()


@pytest.fixture
def instrumented_kafka(otlp_provider: TracerProvider) -> Iterator[None]:
    instrumentor = AIOKafkaInstrumentor()
    instrumentor.instrument(tracer_provider=otlp_provider)
    yield
    instrumentor.uninstrument()


async def _enqueue(db: Database, topic: str, n: int) -> None:
    record = build_customer_registered(customer(n))
    async with db.transaction() as tx:
        await enqueue(tx, topic=topic, key=record.key, payload=record.value,
                      headers=record.headers, event_id=record.event_id)


async def test_untraced_enqueue_keeps_the_request_id_and_no_traceparent(
    db: Database, tansu_broker: TansuBroker,
) -> None:
    topic = unique("plain")
    token = request_id_var.set("rid-untraced")
    try:
        await _enqueue(db, topic, 1)
    finally:
        request_id_var.reset(token)
    await _enqueue(db, topic, 2)  # outside any request: no request-id header
    rows = await db.fetch_all("SELECT traceparent FROM outbox ORDER BY id")
    assert [row["traceparent"] for row in rows] == [None, None]
    relay = make_relay(db, tansu_broker.bootstrap)
    assert await relay.run_once() == 2
    await relay.stop()
    first, second = sorted(await read_topic(tansu_broker.bootstrap, topic, 2),
                           key=lambda r: r.key)
    assert dict(first.headers)["request-id"] == b"rid-untraced"
    assert "traceparent" not in dict(first.headers)
    assert "request-id" not in dict(second.headers)


async def test_the_relay_continues_the_trace_that_wrote_the_row(
    db: Database, tansu_broker: TansuBroker, otlp_receiver: OtlpReceiver,
    otlp_provider: TracerProvider, instrumented_kafka: None,
) -> None:
    topic = unique("traced")
    traced_db = TracedDatabase(db)
    with tracing.span("POST /customers") as request_span:
        await _enqueue(traced_db, topic, 3)
        trace_id = f"{request_span.get_span_context().trace_id:032x}"
    (row,) = await db.fetch_all("SELECT traceparent FROM outbox")
    assert row["traceparent"].startswith(f"00-{trace_id}-")

    relay = make_relay(traced_db, tansu_broker.bootstrap)
    assert await relay.run_once() == 1
    await relay.stop()
    (record,) = await read_topic(tansu_broker.bootstrap, topic, 1)
    header = dict(record.headers)["traceparent"].decode()

    spans = otlp_receiver.wait_for(
        lambda spans: any(s.name == f"{topic} send" for s in spans))
    by_name = {s.name: s for s in spans if s.trace_id == trace_id}
    publish = by_name["outbox publish"]
    assert publish.parent_span_id == row["traceparent"].split("-")[2]
    assert publish.kind == "SPAN_KIND_PRODUCER"
    assert publish.attributes["messaging.destination.name"] == topic
    send = by_name[f"{topic} send"]
    assert send.parent_span_id == publish.span_id
    assert header.startswith(f"00-{trace_id}-{send.span_id}-")  # the CRM's parent
    # The relay's polling outside any trace made no statement spans of its own.
    assert not [s for s in otlp_receiver.snapshot()
                if s.trace_id != trace_id and s.scope == "libcommon.db"]
