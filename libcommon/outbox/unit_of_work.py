"""A unit of work for writers that enqueue events: one transaction, then the after-commit hook.

The hook (the relay's `notify`) runs only when the transaction committed and enqueued at least
one event, so the event is published now rather than at the relay's next poll; a rollback
runs nothing. Handlers never reach into the relay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from libcommon.db import Database, Executor
from libcommon.outbox.store import enqueue


def _nothing() -> None:
    return None


class OutboxTransaction:
    """The open transaction (`tx`, for the entity's SQL) and the outbox to add events to."""

    def __init__(self, tx: Executor) -> None:
        self.tx = tx
        self.enqueued = 0

    async def enqueue(
        self, *, topic: str, key: str | None, payload: bytes, headers: dict[str, str],
        event_id: str,
    ) -> None:
        await enqueue(self.tx, topic=topic, key=key, payload=payload, headers=headers,
                      event_id=event_id)
        self.enqueued += 1


class OutboxUnitOfWork:
    def __init__(self, db: Database, *, after_commit: Callable[[], None] = _nothing) -> None:
        self._db = db
        self._after_commit = after_commit

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[OutboxTransaction]:
        async with self._db.transaction() as tx:
            work = OutboxTransaction(tx)
            yield work
        if work.enqueued:
            self._after_commit()
