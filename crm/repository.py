"""The dedupe table: event ids whose e-mail the transport has already accepted."""

from __future__ import annotations

import contextlib

from libcommon.clock import now_ms
from libcommon.db import Database, DuplicateKeyError


class ProcessedEvents:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, event_id: str) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 AS seen FROM processed_events WHERE event_id = %s", (event_id,)
        )
        return row is not None

    async def record(self, event_id: str) -> None:
        """Remember an event as mailed; recording it twice is not an error."""
        with contextlib.suppress(DuplicateKeyError):
            await self._db.execute(
                "INSERT INTO processed_events (event_id, processed_at_ms) VALUES (%s, %s)",
                (event_id, now_ms()),
            )
