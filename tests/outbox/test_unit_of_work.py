"""The unit of work runs its after-commit hook only after a commit that enqueued events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from libcommon.db import Database
from libcommon.outbox.unit_of_work import OutboxUnitOfWork
from tests.outbox.helpers import open_outbox_db


class Boom(Exception):
    pass


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_outbox_db(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    yield database
    await database.close()


async def pending(db: Database) -> int:
    row = await db.fetch_one("SELECT COUNT(*) AS n FROM outbox WHERE sent_at_ms IS NULL")
    assert row is not None
    return int(row["n"])


async def test_hook_runs_once_after_the_commit_that_enqueued(db: Database) -> None:
    calls: list[int] = []
    unit_of_work = OutboxUnitOfWork(db, after_commit=lambda: calls.append(1))
    async with unit_of_work.begin() as work:
        await work.enqueue(topic="t", key="k", payload=b"{}", headers={}, event_id="e1")
        await work.enqueue(topic="t", key="k", payload=b"{}", headers={}, event_id="e2")
        assert calls == []  # not before the commit
    assert calls == [1]
    assert await pending(db) == 2


async def test_rollback_runs_no_hook_and_stores_nothing(db: Database) -> None:
    calls: list[int] = []
    unit_of_work = OutboxUnitOfWork(db, after_commit=lambda: calls.append(1))
    with pytest.raises(Boom):
        async with unit_of_work.begin() as work:
            await work.enqueue(topic="t", key="k", payload=b"{}", headers={}, event_id="e1")
            raise Boom
    assert calls == []
    assert await pending(db) == 0


async def test_commit_without_events_runs_no_hook(db: Database) -> None:
    calls: list[int] = []
    unit_of_work = OutboxUnitOfWork(db, after_commit=lambda: calls.append(1))
    async with unit_of_work.begin() as work:
        await work.tx.fetch_one("SELECT 1 AS one")
    assert calls == []
