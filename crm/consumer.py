"""The customer.registered consumer: one welcome e-mail per new customer.

Per record, in order: parse (malformed → dead-letter topic), skip if the event id is in
`processed_events`, send the mail (transient failure → retry with backoff, nothing
committed, the consumer waits; permanent refusal → dead-letter), record the event id, then
commit the offset. A crash between sending and committing redelivers the record, and the
dedupe table keeps it from being mailed twice.

The consumer connects in the background: the CRM starts and answers /status while the
broker is unreachable, and /ready says why it is not ready.

Every broker call is bounded in time (KAFKA_REQUEST_TIMEOUT_MS). A consumer that cannot make
progress is thrown away and built again: when an offset commit does not complete in time
(after a broker restart aiokafka may retry a commit the broker keeps refusing, forever), or
when records are pending on its partitions and none was consumed for CRM_STALL_TIMEOUT_S.
A partition whose log ends before our position (the topic was recreated empty) is read again
from its beginning; the dedupe table keeps a record from being mailed twice. `/ready` is 503
while records are pending and nothing was consumed for CRM_STALL_TIMEOUT_S.
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
PENDING = Gauge("crm_records_pending", "Records on the assigned partitions not yet consumed",
                multiprocess_mode="livesum")
REBUILDS = Counter("crm_consumer_rebuilds_total", "Kafka clients thrown away and built again",
                   ["reason"])

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
# How often the lag of the assigned partitions is asked for (while idle or busy).
_PROGRESS_CHECK_INTERVAL_S = 1.0
_FETCH_BATCH = 100
_STOP_GRACE_S = 3.0

Outcome = Literal["sent", "duplicate", "dead-lettered", "ignored"]
T = TypeVar("T")


class ConsumerStuck(Exception):
    """The consumer cannot make progress: rebuild it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        clock: Callable[[], float] = time.monotonic,
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
        self._clock = clock
        self._broker_timeout_s = settings.kafka_request_timeout_ms / 1000
        self._stall_timeout_s = settings.crm_stall_timeout_s
        # Progress: records known to be waiting on our partitions, and when one was last
        # consumed (or the partitions were last seen caught up).
        self.pending = 0
        self._last_progress = clock()
        self._last_check = 0.0
        self._consumer_since = clock()
        self._lag_detail = ""
        # Partitions just read again from their beginning, until their first record arrives;
        # and those whose end offsets proved wrong (see _note_rewind_result).
        self._rewound: set[TopicPartition] = set()
        self._untrusted_ends: set[TopicPartition] = set()
        self._stopping = False

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
            # Metadata refreshed often enough that a topic recreated with another partition
            # count is noticed (and the group rebalanced) well within the stall timeout.
            metadata_max_age_ms=int(min(30.0, s.crm_stall_timeout_s / 2) * 1000),
        )

    def _default_producer(self) -> AIOKafkaProducer:
        return create_producer(self.settings, client_id="crm-dlt")

    # -- lifecycle ---------------------------------------------------------------------

    async def stop(self) -> None:
        # Let the record in hand finish (its commit included) before cancelling: a commit
        # cancelled half-way leaves aiokafka a task whose failure nobody retrieves.
        self._stopping = True
        task = self._task
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), _STOP_GRACE_S)
        await super().stop()

    async def _on_stop(self) -> None:
        await self._disconnect()

    def stalled_for(self) -> float | None:
        """Seconds without progress while records are pending, once over the stall timeout."""
        idle = self._clock() - self._last_progress
        if self.pending > 0 and idle > self._stall_timeout_s:
            return idle
        return None

    async def ready_check(self) -> str:
        stalled = self.stalled_for()
        if stalled is not None:
            return (f"stalled: {self.pending} records pending, none consumed for "
                    f"{stalled:.0f} s ({self.last_error or 'no error reported'})")
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
                async with asyncio.timeout(self._broker_timeout_s * 2):
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
            # A new client gets a full stall timeout before it may be rebuilt again; the
            # readiness clock (last progress) runs on across rebuilds.
            self._consumer_since = self._clock()
            self._last_check = 0.0
            self._rewound.clear()  # a new client starts from the committed offsets
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
        while not self._stopping:
            try:
                await self._connect()
                await self._consume()
            except asyncio.CancelledError:
                raise
            except ConsumerStuck as exc:
                REBUILDS.labels(exc.reason).inc()
                self.last_error = str(exc)
                log.warning("consumer cannot make progress, rebuilding it: %s", exc)
                await self._disconnect()
            except Exception as exc:
                # Never crash: reconnect with fresh clients.
                REBUILDS.labels("error").inc()
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("consumer loop failed; reconnecting")
                await self._disconnect()
                await asyncio.sleep(1)

    async def _consume(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        while not self._stopping:
            # getmany returns after at most this long even when idle: the progress check
            # runs on a quiet topic too.
            batches = await consumer.getmany(
                timeout_ms=int(_PROGRESS_CHECK_INTERVAL_S * 1000), max_records=_FETCH_BATCH
            )
            for records in batches.values():
                for record in records:
                    if self._stopping:
                        return
                    self.pending = max(self.pending, 1)  # one in hand
                    outcome = await self.handle(record)
                    self._note_rewind_result(record, outcome)
                    await self._commit(record)
                    self._last_progress = self._clock()
                    self.pending = max(self.pending - 1, 0)
                    await self._check_progress()
            await self._check_progress()

    def _note_rewind_result(self, record: ConsumerRecord[Any, Any], outcome: Outcome) -> None:
        """The first record of a partition read again from its beginning tells whether the
        topic really was recreated: a recreated log starts with events we have not mailed.
        One we had mailed means the broker's end offset was wrong (Tansu on S3 storage reports
        too few records), so that partition is not rewound again on that evidence."""
        partition = TopicPartition(record.topic, record.partition)
        if partition not in self._rewound:
            return
        self._rewound.discard(partition)
        if outcome == "duplicate":
            self._untrusted_ends.add(partition)
            log.warning("the broker's end offset of %s was wrong (its log still holds the events "
                        "we had read): not reading it again on that evidence", partition)

    async def _check_progress(self) -> None:
        """Every second: how many records wait on our partitions. Pending with nothing
        consumed for CRM_STALL_TIMEOUT_S -> rebuild; a log shorter than our position (the
        topic was recreated) -> read that partition again from its beginning."""
        now = self._clock()
        if now - self._last_check < _PROGRESS_CHECK_INTERVAL_S:
            return
        self._last_check = now
        consumer = self._consumer
        assert consumer is not None
        assigned = list(consumer.assignment())
        pending = 0
        if assigned:
            try:
                async with asyncio.timeout(self._broker_timeout_s):
                    ends = await consumer.end_offsets(assigned)
                    positions = {tp: await consumer.position(tp) for tp in assigned}
            except (KafkaError, TimeoutError, OSError) as exc:
                self.last_error = f"lag check failed: {type(exc).__name__}: {exc}"
                pending = self.pending  # unknown: keep the last count
            else:
                recreated = [tp for tp in assigned if positions[tp] > ends[tp]
                             and tp not in self._untrusted_ends and tp not in self._rewound]
                if recreated:
                    log.warning("the log of %s ends before our position (topic recreated?): "
                                "reading it again from the beginning", recreated)
                    self._rewound.update(recreated)
                    await consumer.seek_to_beginning(*recreated)
                pending = sum(max(ends[tp] - positions[tp], 0) for tp in assigned)
                self._lag_detail = ", ".join(
                    f"{tp.partition}: {positions[tp]}/{ends[tp]}" for tp in sorted(assigned)
                )
        self.pending = pending
        PENDING.set(pending)
        if pending == 0:
            self._last_progress = now
        stalled = self.stalled_for()
        if stalled is not None and now - self._consumer_since > self._stall_timeout_s:
            raise ConsumerStuck(
                "stalled", f"{pending} records pending (partition: position/end "
                f"{self._lag_detail}), none consumed for {stalled:.0f} s"
            )

    async def _commit(self, record: ConsumerRecord[Any, Any]) -> None:
        assert self._consumer is not None
        partition = TopicPartition(record.topic, record.partition)
        try:
            # Bounded: aiokafka retries some refusals (UnknownTopicOrPartition after a broker
            # restart) without end; such a client is rebuilt.
            async with asyncio.timeout(self._broker_timeout_s * 2):
                await self._consumer.commit({partition: record.offset + 1})
        except TimeoutError:
            raise ConsumerStuck(
                "commit-timeout", f"offset commit for {partition}@{record.offset} did not "
                f"complete in {self._broker_timeout_s * 2:g} s"
            ) from None
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
            # A safety net above aiokafka's own delivery timeout (a retry may duplicate the
            # dead letter; its consumers dedupe by event id).
            async with asyncio.timeout(self._broker_timeout_s * 3):
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
            except (TransientMailError, DatabaseError, KafkaError, OSError, TimeoutError) as exc:
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
