"""The outbox relay: publishes pending rows to Kafka in id order and marks them sent.

A broker outage only delays events: the relay retries with capped exponential backoff and
never touches the request path. Several relays (replicas) may share a MySQL database (see
`store`). Delivery is at-least-once: a row is marked sent after the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, use_span

from libcommon.background import BackgroundWorker
from libcommon.clock import now_ms
from libcommon.db import Database, Row
from libcommon.kafka import create_producer
from libcommon.outbox.metrics import (
    BROKER_CONNECTED,
    OLDEST_AGE,
    PENDING,
    PUBLISH_FAILURES,
    PUBLISHED,
)
from libcommon.outbox.settings import OutboxSettings
from libcommon.outbox.store import OutboxLag, OutboxStore, row_headers, row_key, row_payload
from libcommon.tracing import context_from_traceparent, get_tracer, is_active

log = logging.getLogger("libcommon.outbox")

_FAILURE_LOG_INTERVAL_S = 30.0


class Producer(Protocol):
    """What the relay needs from aiokafka's AIOKafkaProducer (a fake in unit tests)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Awaitable[Any]: ...


class PublishFailed(Exception):
    pass


def _end(span: Span | None, error: BaseException | None) -> None:
    if span is None:
        return
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


class OutboxRelay(BackgroundWorker):
    _task_name = "outbox-relay"

    def __init__(
        self,
        db: Database,
        producer_factory: Callable[[], Producer],
        *,
        batch_size: int = 100,
        poll_interval_s: float = 1.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
        publish_timeout_s: float = 15.0,
        retention_s: float = 7 * 24 * 3600,
        ready_max_age_s: float = 0,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        super().__init__()
        self._store = OutboxStore(db)
        self._producer_factory = producer_factory
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._publish_timeout_s = publish_timeout_s
        self._retention_s = retention_s
        self._ready_max_age_s = ready_max_age_s
        self._clock_ms = clock_ms
        self._producer: Producer | None = None
        self._wake = asyncio.Event()
        self._last_cleanup = 0.0
        self._last_failure_log = 0.0
        self.last_error: str | None = None

    @classmethod
    def from_settings(
        cls, db: Database, settings: OutboxSettings, *, client_id: str
    ) -> OutboxRelay:
        return cls(
            db,
            lambda: create_producer(settings, client_id=client_id),
            batch_size=settings.outbox_batch_size,
            poll_interval_s=settings.outbox_poll_interval_s,
            backoff_initial_s=settings.outbox_backoff_initial_s,
            backoff_max_s=settings.outbox_backoff_max_s,
            publish_timeout_s=settings.kafka_request_timeout_ms / 1000 * 1.5,
            retention_s=settings.outbox_retention_s,
            ready_max_age_s=settings.outbox_ready_max_age_s,
        )

    @property
    def connected(self) -> bool:
        return self._producer is not None

    def notify(self) -> None:
        """Wake the relay now (call after committing a transaction that enqueued)."""
        self._wake.set()

    async def _on_stop(self) -> None:
        await self._close_producer()

    async def lag(self) -> OutboxLag:
        return await self._store.lag(self._clock_ms())

    async def ready_check(self) -> str:
        """For `add_ready_check`: "ok", or a reason when events wait longer than allowed."""
        if self._ready_max_age_s <= 0:
            return "ok"
        lag = await self.lag()
        if lag.oldest_age_s > self._ready_max_age_s:
            return f"{lag.pending} event(s) unsent, oldest {lag.oldest_age_s:.0f}s" + (
                f" ({self.last_error})" if self.last_error else ""
            )
        return "ok"

    async def run_once(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        producer = await self._ensure_producer()
        async with self._store.claim(self._batch_size) as (rows, executor):
            sent_ids, error = await self._publish(producer, rows)
            if sent_ids:
                await self._store.mark_sent(executor, sent_ids, self._clock_ms())
                PUBLISHED.inc(len(sent_ids))
        if error is not None:
            raise PublishFailed(error) from error
        return len(sent_ids)

    async def _publish(
        self, producer: Producer, rows: Sequence[Row]
    ) -> tuple[list[int], BaseException | None]:
        """Send rows in id order; returns the ids the broker acknowledged and the first error."""
        sent_ids: list[int] = []
        in_flight: list[tuple[int, Awaitable[Any], Span | None]] = []
        error: BaseException | None = None
        traced = is_active()
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                for row in rows:
                    span = self._publish_span(row) if traced else None
                    try:
                        if span is None:
                            future = await producer.send(
                                row["topic"], value=row_payload(row), key=row_key(row),
                                headers=row_headers(row),
                            )
                        else:
                            # The instrumented producer's send span (and the record's
                            # traceparent header) become children of this one.
                            with use_span(span, end_on_exit=False):
                                future = await producer.send(
                                    row["topic"], value=row_payload(row), key=row_key(row),
                                    headers=row_headers(row),
                                )
                    except Exception as exc:
                        _end(span, exc)
                        error = exc
                        break
                    in_flight.append((int(row["id"]), future, span))
                while in_flight:
                    row_id, future, span = in_flight[0]
                    try:
                        await future
                    except Exception as exc:
                        _end(span, exc)
                        error = error or exc
                    else:
                        _end(span, None)
                        sent_ids.append(row_id)
                    in_flight.pop(0)
        except TimeoutError as exc:
            error = error or exc
        finally:
            for _row_id, _future, span in in_flight:
                _end(span, error or TimeoutError())
        return sent_ids, error

    def _publish_span(self, row: Row) -> Span:
        """A span per published row, child of the trace that wrote it (`traceparent`); ends
        when the broker acknowledges the record."""
        created = row["created_at_ms"]
        return get_tracer("libcommon.outbox").start_span(
            "outbox publish",
            context=context_from_traceparent(row["traceparent"]),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": row["topic"],
                "bookstore.event_id": row["event_id"],
                "bookstore.outbox.wait_ms": max(0, self._clock_ms() - int(created)),
            },
        )

    async def _ensure_producer(self) -> Producer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
            BROKER_CONNECTED.set(1)
            log.info("outbox relay connected to the broker")
        return self._producer

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        BROKER_CONNECTED.set(0)
        if producer is not None:
            # stop() flushes; with the broker gone that could take the full request timeout.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await producer.stop()

    async def _cleanup(self) -> None:
        if self._retention_s <= 0 or time.monotonic() - self._last_cleanup < 3600:
            return
        self._last_cleanup = time.monotonic()
        await self._store.delete_sent_before(self._clock_ms() - int(self._retention_s * 1000))

    async def _update_gauges(self) -> None:
        lag = await self.lag()
        PENDING.set(lag.pending)
        OLDEST_AGE.set(lag.oldest_age_s)

    async def _sleep(self, seconds: float, *, wake_on_notify: bool) -> None:
        if not wake_on_notify:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _log_failure(self, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        first = self.last_error is None
        self.last_error = reason
        now = time.monotonic()
        if first or now - self._last_failure_log >= _FAILURE_LOG_INTERVAL_S:
            self._last_failure_log = now
            log.warning("outbox relay cannot publish, will retry: %s", reason)

    async def _run(self) -> None:
        backoff = self._backoff_initial_s
        while True:
            # Cleared before reading: a notify() during this pass triggers another pass.
            self._wake.clear()
            try:
                published = await self.run_once()
                if self.last_error is not None:
                    log.info("outbox relay recovered")
                    self.last_error = None
                backoff = self._backoff_initial_s
                await self._update_gauges()
                await self._cleanup()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                PUBLISH_FAILURES.inc()
                self._log_failure(exc)
                if isinstance(exc, PublishFailed) or not self.connected:
                    # A fresh producer after a failure: aiokafka may keep stale metadata.
                    await self._close_producer()
                with contextlib.suppress(Exception):
                    await self._update_gauges()
                # Notifications do not cut a backoff short: during an outage every POST
                # would otherwise trigger an immediate retry.
                await self._sleep(backoff, wake_on_notify=False)
                backoff = min(backoff * 2, self._backoff_max_s)
                continue
            if published < self._batch_size:
                await self._sleep(self._poll_interval_s, wake_on_notify=True)
