"""The `outbox` table: enqueue inside the writer's transaction, and the relay's SQL.

MySQL claims rows with `SELECT ... FOR UPDATE SKIP LOCKED` by primary key (record locks only,
no gap locks, so concurrent INSERTs of new events are never blocked). SQLite assumes one
relay per database file: a rare double publish is harmless because consumers dedupe by
event id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson

from libcommon.clock import now_ms
from libcommon.db import Database, Executor, Row
from libcommon.events import HEADER_REQUEST_ID
from libcommon.logs import request_id_var
from libcommon.tracing import current_traceparent

log = logging.getLogger("libcommon.outbox")

_COLUMNS = "id, event_id, topic, msg_key, payload, headers, created_at_ms, traceparent"


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
    """Add one event to the outbox; call inside the transaction that writes the entity.

    The request being served travels with the event: its id as the `request-id` header
    (unless the caller set one), and with tracing on its trace context in `traceparent`, the
    parent of the relay's publish span."""
    request_id = request_id_var.get()
    if request_id and HEADER_REQUEST_ID not in headers:
        headers = {**headers, HEADER_REQUEST_ID: request_id}
    await tx.execute(
        "INSERT INTO outbox (event_id, topic, msg_key, payload, headers, created_at_ms,"
        " traceparent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            event_id,
            topic,
            key,
            payload,
            orjson.dumps(headers).decode(),
            created_at_ms if created_at_ms is not None else now_ms(),
            current_traceparent(),
        ),
    )


@dataclass(frozen=True, slots=True)
class OutboxLag:
    pending: int
    oldest_age_s: float


def row_headers(row: Row) -> list[tuple[str, bytes]]:
    raw = row["headers"]
    try:
        headers = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        log.error("outbox row %s has unreadable headers; publishing without them", row["id"])
        headers = {}
    return [(str(name), str(value).encode()) for name, value in headers.items()]


def row_payload(row: Row) -> bytes:
    payload = row["payload"]
    return payload.encode() if isinstance(payload, str) else bytes(payload)


def row_key(row: Row) -> bytes | None:
    key = row["msg_key"]
    return key.encode() if key is not None else None


class OutboxStore:
    """The relay's queries against one database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def claim(self, limit: int) -> AsyncIterator[tuple[Sequence[Row], Executor]]:
        """The oldest unsent rows (at most `limit`), and where to mark them sent.

        On MySQL the rows stay locked (the transaction) until the block ends, so replicas
        never publish the same row concurrently.
        """
        if self._db.dialect != "mysql":
            rows = await self._db.fetch_all(
                f"SELECT {_COLUMNS} FROM outbox WHERE sent_at_ms IS NULL"  # noqa: S608 - constants
                " ORDER BY id LIMIT %s",
                (limit,),
            )
            yield rows, self._db
            return
        # A plain read first, then lock exactly those rows by primary key: a locking range
        # scan on (sent_at_ms, id) would gap-lock where new events are inserted.
        candidates = await self._db.fetch_all(
            "SELECT id FROM outbox WHERE sent_at_ms IS NULL ORDER BY id LIMIT %s", (limit,)
        )
        if not candidates:
            yield [], self._db
            return
        ids = [row["id"] for row in candidates]
        marks = ", ".join(["%s"] * len(ids))
        async with self._db.transaction() as tx:
            rows = await tx.fetch_all(
                f"SELECT {_COLUMNS} FROM outbox FORCE INDEX (PRIMARY)"  # noqa: S608 - constants
                f" WHERE id IN ({marks})"
                " AND sent_at_ms IS NULL ORDER BY id FOR UPDATE SKIP LOCKED",
                ids,
            )
            yield rows, tx

    @staticmethod
    async def mark_sent(executor: Executor, ids: list[int], sent_at_ms: int) -> None:
        if not ids:
            return
        marks = ", ".join(["%s"] * len(ids))
        await executor.execute(
            f"UPDATE outbox SET sent_at_ms = %s WHERE id IN ({marks})",  # noqa: S608 - placeholders
            (sent_at_ms, *ids),
        )

    async def lag(self, now_ms: int) -> OutboxLag:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n, MIN(created_at_ms) AS oldest FROM outbox"
            " WHERE sent_at_ms IS NULL"
        )
        pending = int(row["n"]) if row else 0
        oldest = row["oldest"] if row else None
        age = max(0.0, (now_ms - int(oldest)) / 1000) if oldest is not None else 0.0
        return OutboxLag(pending=pending, oldest_age_s=age)

    async def delete_sent_before(self, cutoff_ms: int) -> None:
        while True:
            # Ids first, then delete by primary key: no range locks next to new inserts.
            rows = await self._db.fetch_all(
                "SELECT id FROM outbox WHERE sent_at_ms IS NOT NULL AND sent_at_ms < %s"
                " ORDER BY id LIMIT 1000",
                (cutoff_ms,),
            )
            if not rows:
                return
            ids = [row["id"] for row in rows]
            marks = ", ".join(["%s"] * len(ids))
            await self._db.execute(
                f"DELETE FROM outbox WHERE id IN ({marks})", ids  # noqa: S608 - placeholders
            )
