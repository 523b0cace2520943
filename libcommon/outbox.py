"""Transactional outbox: events are written with the business row, relayed to Kafka later.

`enqueue(tx, ...)` inserts into the `outbox` table inside the caller's transaction, so the
event exists exactly when the customer does. `OutboxRelay` publishes pending rows in id
order and marks them sent. A broker outage only delays events: the relay retries with
capped exponential backoff and never touches the request path.

Several relays (replicas) may share a MySQL database: each claims rows with
`SELECT ... FOR UPDATE SKIP LOCKED` by primary key (record locks only, no gap locks, so
concurrent INSERTs of new events are never blocked). On SQLite one relay per database file
is assumed; a rare double publish is harmless because consumers dedupe by event id.

Delivery is at-least-once: a row is marked sent after the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import web
from prometheus_client import Counter, Gauge
from pydantic import Field

from libcommon.background import BackgroundWorker
from libcommon.db import Database, Executor, Row
from libcommon.kafka import KafkaSettings, create_producer
from libcommon.web import add_ready_check

log = logging.getLogger("libcommon.outbox")

PENDING = Gauge("outbox_pending_events", "Outbox rows not yet acknowledged by the broker")
OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest unsent outbox row (0 when none)"
)
PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka")
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Failed relay passes (broker errors)")
BROKER_CONNECTED = Gauge("outbox_broker_connected", "1 when the relay's producer is connected")

_COLUMNS = "id, event_id, topic, msg_key, payload, headers, created_at_ms"
_FAILURE_LOG_INTERVAL_S = 30.0


class OutboxSettings(KafkaSettings):
    """Relay tuning (environment names are the field names upper-cased)."""

    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    outbox_backoff_initial_s: float = Field(default=0.2, gt=0)
    outbox_backoff_max_s: float = Field(default=5.0, gt=0)
    # Sent rows are deleted after this long (0 keeps them forever).
    outbox_retention_s: float = Field(default=7 * 24 * 3600, ge=0)
    # /ready fails when the oldest unsent event is older than this (0: never fails, the
    # service keeps accepting writes during a broker outage, which is the point).
    outbox_ready_max_age_s: float = Field(default=0, ge=0)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def enqueue(
    tx: Executor,
    *,
    topic: str,
    key: str | None,
    payload: bytes,
    headers: dict[str, str],
    event_id: str,
    created_at_ms: int | None = None,
) -> None:
    """Add one event to the outbox; call inside the transaction that writes the entity."""
    await tx.execute(
        "INSERT INTO outbox (event_id, topic, msg_key, payload, headers, created_at_ms)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (
            event_id,
            topic,
            key,
            payload,
            orjson.dumps(headers).decode(),
            created_at_ms if created_at_ms is not None else now_ms(),
        ),
    )


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


@dataclass(frozen=True, slots=True)
class OutboxLag:
    pending: int
    oldest_age_s: float


class PublishFailed(Exception):
    pass


def _row_headers(row: Row) -> list[tuple[str, bytes]]:
    raw = row["headers"]
    try:
        headers = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        log.error("outbox row %s has unreadable headers; publishing without them", row["id"])
        headers = {}
    return [(str(name), str(value).encode()) for name, value in headers.items()]


def _row_payload(row: Row) -> bytes:
    payload = row["payload"]
    return payload.encode() if isinstance(payload, str) else bytes(payload)


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
        self._db = db
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
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM outbox"
            " WHERE sent_at_ms IS NULL"
        )
        pending = int(row["n"]) if row else 0
        oldest = row["oldest"] if row else None
        age = max(0.0, (self._clock_ms() - int(oldest)) / 1000) if oldest is not None else 0.0
        return OutboxLag(pending=pending, oldest_age_s=age)

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
        if self._db.dialect == "mysql":
            return await self._publish_locked(producer)
        rows = await self._db.fetch_all(
            f"SELECT {_COLUMNS} FROM outbox WHERE sent_at_ms IS NULL"  # noqa: S608 - constants
            " ORDER BY id LIMIT %s",
            (self._batch_size,),
        )
        sent_ids, error = await self._publish(producer, rows)
        await self._mark_sent(self._db, sent_ids)
        if error is not None:
            raise PublishFailed(error) from error
        return len(sent_ids)

    async def _publish_locked(self, producer: Producer) -> int:
        # A plain read first, then lock exactly those rows by primary key: a locking range
        # scan on (sent_at_ms, id) would gap-lock where new events are inserted.
        candidates = await self._db.fetch_all(
            "SELECT id FROM outbox WHERE sent_at_ms IS NULL ORDER BY id LIMIT %s",
            (self._batch_size,),
        )
        if not candidates:
            return 0
        ids = [row["id"] for row in candidates]
        marks = ", ".join(["%s"] * len(ids))
        error: BaseException | None = None
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(
                f"SELECT {_COLUMNS} FROM outbox FORCE INDEX (PRIMARY)"  # noqa: S608 - constants
                f" WHERE id IN ({marks})"
                " AND sent_at_ms IS NULL ORDER BY id FOR UPDATE SKIP LOCKED",
                ids,
            )
            sent_ids, error = await self._publish(producer, rows)
            await self._mark_sent(tx, sent_ids)
        if error is not None:
            raise PublishFailed(error) from error
        return len(sent_ids)

    async def _publish(
        self, producer: Producer, rows: Sequence[Row]
    ) -> tuple[list[int], BaseException | None]:
        """Send rows in id order; returns the ids the broker acknowledged and the first error."""
        sent_ids: list[int] = []
        in_flight: list[tuple[int, Awaitable[Any]]] = []
        error: BaseException | None = None
        try:
            async with asyncio.timeout(self._publish_timeout_s):
                for row in rows:
                    try:
                        future = await producer.send(
                            row["topic"],
                            value=_row_payload(row),
                            key=row["msg_key"].encode() if row["msg_key"] is not None else None,
                            headers=_row_headers(row),
                        )
                    except Exception as exc:
                        error = exc
                        break
                    in_flight.append((int(row["id"]), future))
                for row_id, future in in_flight:
                    try:
                        await future
                    except Exception as exc:
                        error = error or exc
                    else:
                        sent_ids.append(row_id)
        except TimeoutError as exc:
            error = error or exc
        return sent_ids, error

    async def _mark_sent(self, executor: Executor, ids: list[int]) -> None:
        if not ids:
            return
        marks = ", ".join(["%s"] * len(ids))
        await executor.execute(
            f"UPDATE outbox SET sent_at_ms = %s WHERE id IN ({marks})",  # noqa: S608 - placeholders
            (self._clock_ms(), *ids),
        )
        PUBLISHED.inc(len(ids))

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
        cutoff = self._clock_ms() - int(self._retention_s * 1000)
        while True:
            # Ids first, then delete by primary key: no range locks next to new inserts.
            rows = await self._db.fetch_all(
                "SELECT id FROM outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < %s"
                " ORDER BY id LIMIT 1000",
                (cutoff,),
            )
            if not rows:
                return
            ids = [row["id"] for row in rows]
            marks = ", ".join(["%s"] * len(ids))
            await self._db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks})", ids  # noqa: S608 - placeholders
            )

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


OUTBOX_RELAY_KEY = web.AppKey("outbox_relay", OutboxRelay)


def outbox_relay_ctx(
    settings: OutboxSettings,
    db_key: web.AppKey[Database],
    *,
    client_id: str,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context (after the database's) that runs a relay, stored under
    `OUTBOX_RELAY_KEY`, and registers its ready check as "outbox"."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        relay = OutboxRelay.from_settings(app[db_key], settings, client_id=client_id)
        app[OUTBOX_RELAY_KEY] = relay
        add_ready_check(app, "outbox", relay.ready_check)
        await relay.start()
        try:
            yield
        finally:
            await relay.stop()

    return ctx
