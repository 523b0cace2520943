"""What an operator sees of the CRM: records counted by outcome, mail failures by transport,
one span per record (consume -> dedupe -> send) continuing the producer's trace, and the
registration's request id on the CRM's log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from crm.mail import create_mailer
from libcommon import logs
from libcommon.db.traced import TracedDatabase
from libcommon.events import build_customer_registered
from tests.crm.helpers import crm_settings, open_crm_db, publish, running_crm
from tests.fixtures.kafka import TansuBroker
from tests.fixtures.otlp import OtlpReceiver
from tests.outbox.helpers import customer, eventually, unique

pytestmark = pytest.mark.kafka

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN = "00f067aa0ba902b7"


def consumed(outcome: str) -> float:
    return REGISTRY.get_sample_value("crm_events_consumed_total", {"outcome": outcome}) or 0.0


@pytest.fixture
def crm_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("crm"))
    logger = logging.getLogger("crm.consumer")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_records_are_counted_traced_and_logged_with_the_request_id(
    tmp_path: Path, tansu_broker: TansuBroker, otlp_receiver: OtlpReceiver,
    otlp_provider: TracerProvider, crm_log: io.StringIO,
) -> None:
    topic = unique("observed")
    settings = crm_settings(tmp_path, tansu_broker.bootstrap, topic)
    event = build_customer_registered(customer(5))
    headers = [*event.kafka_headers(), ("request-id", b"rid-registration-5"),
               ("traceparent", f"00-{TRACE_ID}-{PRODUCER_SPAN}-01".encode())]
    forged = [*build_customer_registered(customer(6)).kafka_headers(),
              ("request-id", b"forged\n{\"level\":\"ERROR\"}")]
    before = {o: consumed(o) for o in ("sent", "duplicate", "dead-lettered")}
    await publish(tansu_broker.bootstrap, topic, [
        (event.value, headers), (event.value, headers),  # the second is a redelivery
        (b"not json", event.kafka_headers()),
        (build_customer_registered(customer(6)).value, forged),
    ])
    db = TracedDatabase(await open_crm_db(settings.database_url))
    async with running_crm(settings, create_mailer(settings), db=db):
        await eventually(lambda: consumed("sent") >= before["sent"] + 2
                         and consumed("duplicate") >= before["duplicate"] + 1
                         and consumed("dead-lettered") >= before["dead-lettered"] + 1,
                         timeout_s=20)
    await db.close()

    spans = otlp_receiver.wait_for(
        lambda spans: len([s for s in spans if s.trace_id == TRACE_ID and s.name == "crm process"]) == 2)
    trace = otlp_receiver.trace(TRACE_ID)
    first, second = [s for s in trace if s.name == "crm process"]
    assert first.parent_span_id == second.parent_span_id == PRODUCER_SPAN
    assert first.kind == "SPAN_KIND_CONSUMER"
    assert first.attributes["messaging.destination.name"] == topic
    assert first.attributes["bookstore.outcome"] == "sent"
    assert second.attributes["bookstore.outcome"] == "duplicate"
    children = {s.name: s for s in trace if s.parent_span_id == first.span_id}
    assert {"dedupe lookup", "mail send", "dedupe record"} <= set(children)
    assert children["mail send"].attributes["bookstore.mail.transport"] == "file"
    # The dedupe statements are spans of their own under the dedupe spans.
    assert any(s.parent_span_id == children["dedupe lookup"].span_id
               and s.name.startswith("SELECT") for s in trace)
    assert any(s.parent_span_id == children["dedupe record"].span_id
               and s.name.startswith("INSERT") for s in trace)
    assert otlp_receiver.rejected == 0 and spans

    lines = [json.loads(line) for line in crm_log.getvalue().splitlines()]
    sent = [line for line in lines if "welcome e-mail sent for customer 5 " in line["msg"]]
    assert sent and sent[0]["request_id"] == "rid-registration-5"
    assert sent[0]["trace_id"] == TRACE_ID
    six = [line for line in lines if "customer 6 " in line["msg"]]
    assert six and "request_id" not in six[0]  # the forged id is dropped, not logged
