"""The customer.registered consumer: one welcome e-mail per new customer.

Per record, in order: parse (malformed → dead-letter topic), skip if the event id is in
`processed_events`, send the mail (transient failure → retry with backoff, nothing
committed, the consumer waits; permanent refusal → dead-letter), record the event id, then
commit the offset. A crash between sending and committing redelivers the record, and the
dedupe table keeps it from being mailed twice.

The consumer connects in the background: the CRM starts and answers /status while the
broker is unreachable, and /ready says why it is not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge

from crm.mail import Mailer, PermanentMailError, TransientMailError, build_welcome_email
from crm.repository import ProcessedEvents
from crm.settings import Settings
from libcommon import tracing
from libcommon.background import BackgroundWorker
from libcommon.db import Database, DatabaseError
from libcommon.events import (
    MalformedEvent,
    UnsupportedEventType,
    parse_customer_registered,
    request_id_from_headers,
)
from libcommon.kafka import create_consumer, create_producer
from libcommon.logs import request_id_var

log = logging.getLogger("crm.consumer")

MAILS_SENT = Counter(
    "crm_mails_sent_total", "Welcome e-mails accepted by the transport", ["backend"]
)
DEAD_LETTERED = Counter(
    "crm_events_dead_lettered_total", "Records moved to the dead-letter topic", ["code"]
)
DUPLICATES = Counter(
    "crm_duplicate_events_skipped_total", "Records whose event id was already mailed"
)
IGNORED = Counter("crm_events_ignored_total", "Records of other event types, skipped")
MAIL_FAILURES = Counter(
    "crm_mail_failures_total", "Failed send attempts by transport", ["backend", "kind"]
)
CONSUMED = Counter(
    "crm_events_consumed_total",
    "Records handled to the end (sent, duplicate, dead-lettered, ignored)", ["outcome"],
)
CONNECTED = Gauge("crm_kafka_connected", "1 while the consumer is connected to the broker",
                  multiprocess_mode="livemin")

# Every outcome exported from the start at 0: a series born at 1 would hide its first
# increase from rate()/increase() (and the alerts built on them).
for _outcome in ("sent", "duplicate", "dead-lettered", "ignored"):
    CONSUMED.labels(_outcome)

HEADER_DLT_REASON = "dlt-reason"
HEADER_DLT_CODE = "dlt-code"
HEADER_DLT_SOURCE_TOPIC = "dlt-source-topic"
HEADER_DLT_SOURCE_PARTITION = "dlt-source-partition"
HEADER_DLT_SOURCE_OFFSET = "dlt-source-offset"
_MAX_REASON_LEN = 1000
_FAILURE_LOG_INTERVAL_S = 30.0

Outcome = Literal["sent", "duplicate", "dead-lettered", "ignored"]
T = TypeVar("T")


class CrmConsumer(BackgroundWorker):
    _task_name = "crm-consumer"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        mailer: Mailer,
        *,
        consumer_factory: Callable[[], AIOKafkaConsumer] | None = None,
        producer_factory: Callable[[], AIOKafkaProducer] | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.mailer = mailer
        self.processed = ProcessedEvents(db)
        MAILS_SENT.labels(mailer.name)
        for kind in ("transient", "permanent"):
            MAIL_FAILURES.labels(mailer.name, kind)
        self.topic = settings.kafka_customer_topic
        self.dead_letter_topic = settings.dead_letter_topic()
        self._consumer_factory = consumer_factory or self._default_consumer
        self._producer_factory = producer_factory or self._default_producer
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self.connected = False
        self.last_error: str | None = None

    def _default_consumer(self) -> AIOKafkaConsumer:
        s = self.settings
        return create_consumer(
            s,
            self.topic,
            group_id=s.crm_consumer_group,
            client_id="crm",
            session_timeout_ms=s.kafka_session_timeout_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
            max_poll_interval_ms=s.kafka_max_poll_interval_ms,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
        )

    def _default_producer(self) -> AIOKafkaProducer:
        return create_producer(self.settings, client_id="crm-dlt")

    # -- lifecycle ---------------------------------------------------------------------

    async def _on_stop(self) -> None:
        await self._disconnect()

    async def ready_check(self) -> str:
        if not self.connected or self._consumer is None:
            return f"broker not connected ({self.last_error or 'connecting'})"
        await self._consumer.topics()  # a metadata round trip: raises or times out when down
        return "ok"

    async def _connect(self) -> None:
        backoff = 0.2
        last_log = 0.0
        while True:
            consumer = self._consumer_factory()
            producer = self._producer_factory()
            try:
                await producer.start()
                await consumer.start()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                for client in (consumer, producer):
                    with contextlib.suppress(Exception):
                        await client.stop()
                if time.monotonic() - last_log >= _FAILURE_LOG_INTERVAL_S:
                    last_log = time.monotonic()
                    log.warning("cannot connect to Kafka, retrying: %s", self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.settings.kafka_connect_backoff_max_s)
                continue
            self._consumer, self._producer = consumer, producer
            self.connected = True
            self.last_error = None
            CONNECTED.set(1)
            log.info("consuming %s as group %s", self.topic, self.settings.crm_consumer_group)
            return

    async def _disconnect(self) -> None:
        self.connected = False
        CONNECTED.set(0)
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        for client in (consumer, producer):
            if client is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await client.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self._connect()
                assert self._consumer is not None
                while True:
                    record = await self._consumer.getone()
                    await self.handle(record)
                    await self._commit(record)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Never crash: reconnect with fresh clients.
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("consumer loop failed; reconnecting")
                await self._disconnect()
                await asyncio.sleep(1)

    async def _commit(self, record: ConsumerRecord[Any, Any]) -> None:
        assert self._consumer is not None
        partition = TopicPartition(record.topic, record.partition)
        try:
            await self._consumer.commit({partition: record.offset + 1})
        except (CommitFailedError, KafkaError) as exc:
            # A rebalance or outage: the record may be redelivered, and the dedupe table
            # (or the dead-letter topic's consumers) absorb the repeat.
            log.warning("offset commit failed for %s@%d: %s", partition, record.offset, exc)

    # -- one record ----------------------------------------------------------------------

    async def handle(self, record: ConsumerRecord[Any, Any]) -> Outcome:
        """Process one record until it is done; returns only when it may be committed.

        The record's `traceparent` header (written by the relay's producer span) makes this
        a span of the registration's trace, and its `request-id` header makes the log lines
        carry the request id of the registration."""
        headers = list(record.headers or ())
        request_id = request_id_from_headers(headers)
        token = request_id_var.set(request_id) if request_id else None
        try:
            with tracing.span(
                "crm process",
                parent=tracing.context_from_kafka_headers(headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": record.topic,
                    "messaging.destination.partition.id": str(record.partition),
                    "messaging.kafka.offset": record.offset,
                    "messaging.consumer.group.name": self.settings.crm_consumer_group,
                },
            ) as span:
                outcome = await self._handle(record, headers)
                span.set_attribute("bookstore.outcome", outcome)
        finally:
            if token is not None:
                request_id_var.reset(token)
        CONSUMED.labels(outcome).inc()
        return outcome

    async def _handle(
        self, record: ConsumerRecord[Any, Any], headers: list[tuple[str, bytes]]
    ) -> Outcome:
        try:
            event = parse_customer_registered(record.value, headers)
        except UnsupportedEventType as exc:
            IGNORED.inc()
            log.info("skipping %s@%d: %s", record.topic, record.offset, exc)
            return "ignored"
        except MalformedEvent as exc:
            await self._dead_letter(record, exc.code, exc.reason)
            return "dead-lettered"
        with tracing.span("dedupe lookup", attributes={"bookstore.event_id": event.event_id}):
            seen = await self._retrying(
                "dedupe lookup", lambda: self.processed.seen(event.event_id)
            )
        if seen:
            DUPLICATES.inc()
            log.info("event %s already mailed; skipping", event.event_id)
            return "duplicate"
        msg = build_welcome_email(
            event.customer,
            event_id=event.event_id,
            sender=self.settings.mail_from,
            store_owner=self.settings.store_owner,
        )
        try:
            with tracing.span("mail send", kind=SpanKind.CLIENT,
                              attributes={"bookstore.mail.transport": self.mailer.name}):
                await self._retrying("mail", lambda: self.mailer.send(msg))
        except PermanentMailError as exc:
            MAIL_FAILURES.labels(self.mailer.name, "permanent").inc()
            await self._dead_letter(record, "mail-rejected", str(exc))
            return "dead-lettered"
        MAILS_SENT.labels(self.mailer.name).inc()
        with tracing.span("dedupe record"):
            await self._retrying("dedupe record", lambda: self.processed.record(event.event_id))
        log.info(
            "welcome e-mail sent for customer %d (event %s)", event.customer.id, event.event_id
        )
        return "sent"

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], code: str, reason: str) -> None:
        log.warning(
            "dead-lettering %s[%d]@%d (%s): %s",
            record.topic, record.partition, record.offset, code, reason,
        )
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith("dlt-")]
        headers += [
            (HEADER_DLT_CODE, code.encode()),
            (HEADER_DLT_REASON, reason[:_MAX_REASON_LEN].encode()),
            (HEADER_DLT_SOURCE_TOPIC, record.topic.encode()),
            (HEADER_DLT_SOURCE_PARTITION, str(record.partition).encode()),
            (HEADER_DLT_SOURCE_OFFSET, str(record.offset).encode()),
        ]

        async def publish() -> None:
            if self._producer is None:
                raise KafkaError("no producer")
            await self._producer.send_and_wait(
                self.dead_letter_topic, value=record.value, key=record.key, headers=headers
            )

        await self._retrying("dead-letter publish", publish)
        DEAD_LETTERED.labels(code).inc()

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """Run until it succeeds or fails permanently; transient errors back off (capped)."""
        delay = self.settings.mail_retry_initial_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return await operation()
            except PermanentMailError:
                raise
            except asyncio.CancelledError:
                raise
            except (TransientMailError, DatabaseError, KafkaError, OSError) as exc:
                if isinstance(exc, TransientMailError):
                    MAIL_FAILURES.labels(self.mailer.name, "transient").inc()
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # Unknown errors are retried too: dropping a valid event is worse than waiting.
                log.exception("%s failed unexpectedly", what)
                reason = f"{type(exc).__name__}: {exc}"
            self.last_error = reason
            if attempt == 1 or attempt % 10 == 0:
                log.warning("%s failed (attempt %d), retrying in %.1fs: %s",
                            what, attempt, delay, reason)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.mail_retry_max_s)
