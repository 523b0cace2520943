"""Idempotent creation: `Idempotency-Key` on a `POST` that creates a resource.

The first request with a key claims it (a row in `idempotency_keys`, primary key = the key) in
the same transaction that creates the resource and records the `201` answer, so either all of
it is committed or none. A retry with the same key and the same request gets the recorded
answer again: no second row, event or e-mail. The same key with another request body gets
`422`. Concurrent requests with one key queue on the primary key (the database decides, not a
check-then-insert): one creates, the others find its committed answer. A key is forgotten
`IDEMPOTENCY_TTL_S` after it was first used (default 24 h); a background task deletes old rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from pydantic import Field
from pydantic_settings import BaseSettings

from libcommon.clock import now_ms
from libcommon.conditional import ETAG_HEADER, etag_value
from libcommon.db import Database, DuplicateKeyError, Executor
from libcommon.errors import ApiError
from libcommon.jsonio import raw_json_response
from libcommon.urls import public_base_url

log = logging.getLogger("libcommon.idempotency")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Printable ASCII without spaces: UUIDs, ULIDs and the like.
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_CLAIM_ATTEMPTS = 3


W = TypeVar("W")


def _same(tx: Executor) -> Executor:
    return tx


class IdempotencySettings(BaseSettings):
    # How long a key is remembered after its first use.
    idempotency_ttl_s: int = Field(default=86_400, ge=60)


@dataclass(frozen=True, slots=True)
class Created:
    """The `201` answer of a creation: its body, the resource's path, and its tag."""

    body: bytes
    path: str
    tag: str


def idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key, None without one, 400 when it is not 1-255 visible
    ASCII characters."""
    values = request.headers.getall(IDEMPOTENCY_KEY_HEADER, [])
    if not values:
        return None
    if len(values) > 1 or not _VALID_KEY.fullmatch(values[0]):
        raise ApiError(400, "Idempotency-Key must be one value of 1-255 visible ASCII characters.",
                       errors=[{"field": IDEMPOTENCY_KEY_HEADER,
                                "message": "1-255 visible ASCII characters"}])
    return values[0]


def created_response(request: web.Request, created: Created, replayed: bool) -> web.Response:
    """The `201`: body, `Location` (this service as the client addressed it), `ETag`; a
    replay says so in `Idempotent-Replayed: true`."""
    headers = {"Location": public_base_url(request) + created.path,
               ETAG_HEADER: etag_value(created.tag)}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return raw_json_response(created.body, status=201, headers=headers)


def request_fingerprint(document: bytes) -> str:
    """What "the same request" means: the same validated document."""
    return hashlib.sha256(document).hexdigest()


class IdempotencyKeys:
    """The `idempotency_keys` table of one service's database."""

    def __init__(self, db: Database, *, ttl_s: int) -> None:
        self._db = db
        self.ttl_s = ttl_s

    async def create_once(
        self,
        key: str | None,
        fingerprint: str,
        create: Callable[[W], Awaitable[Created]],
        *,
        begin: Callable[[], AbstractAsyncContextManager[W]],
        executor: Callable[[W], Executor],
    ) -> tuple[Created, bool]:
        """Run `create` in a transaction (`begin()`, whose statements run on `executor(it)`),
        at most once per key; (answer, replayed).

        Exceptions of `create` (a duplicate business key, say) roll everything back,
        including the claim, and propagate.
        """
        if key is None:
            async with begin() as work:
                return await create(work), False
        for _ in range(_CLAIM_ATTEMPTS):
            async with begin() as work:
                tx = executor(work)
                if await self._claim(tx, key, fingerprint):
                    created = await create(work)
                    await tx.execute(
                        "UPDATE idempotency_keys SET body = %s, path = %s, tag = %s"
                        " WHERE idem_key = %s", (created.body, created.path, created.tag, key))
                    return created, False
            # Claimed by a committed request (we waited for it on the primary key).
            row = await self._db.fetch_one(
                "SELECT fingerprint, body, path, tag, created_at_ms FROM idempotency_keys"
                " WHERE idem_key = %s", (key,))
            if row is None:
                continue  # deleted (expired) in between: claim again
            if int(row["created_at_ms"]) < now_ms() - self.ttl_s * 1000:
                await self._db.execute(
                    "DELETE FROM idempotency_keys WHERE idem_key = %s AND created_at_ms = %s",
                    (key, row["created_at_ms"]))
                continue
            if row["fingerprint"] != fingerprint:
                raise ApiError(422, "This Idempotency-Key was already used with a different "
                                    "request body.")
            if row["body"] is None:  # pragma: no cover - the claim commits with its answer
                raise ApiError(409, "A request with this Idempotency-Key is in progress.")
            return Created(bytes(row["body"]), str(row["path"]), str(row["tag"])), True
        raise ApiError(409, "A request with this Idempotency-Key is in progress; retry.")

    async def create_once_in(
        self, key: str | None, fingerprint: str, create: Callable[[Executor], Awaitable[Created]]
    ) -> tuple[Created, bool]:
        """`create_once` in a plain transaction of this database."""
        return await self.create_once(key, fingerprint, create, begin=self._db.transaction,
                                      executor=_same)

    @staticmethod
    async def _claim(tx: Executor, key: str, fingerprint: str) -> bool:
        try:
            await tx.execute(
                "INSERT INTO idempotency_keys (idem_key, fingerprint, created_at_ms)"
                " VALUES (%s, %s, %s)", (key, fingerprint, now_ms()))
        except DuplicateKeyError:
            return False
        return True

    async def purge(self) -> int:
        """Delete the keys past their time; the number deleted."""
        cutoff = now_ms() - self.ttl_s * 1000
        result = await self._db.execute(
            "DELETE FROM idempotency_keys WHERE created_at_ms < %s", (cutoff,))
        return result.rowcount


def purge_task_ctx(
    keys: Callable[[web.Application], IdempotencyKeys], interval_s: float = 600.0
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context deleting expired keys every `interval_s` while the app runs."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                try:
                    deleted = await keys(app).purge()
                    if deleted:
                        log.info("deleted %d expired idempotency keys", deleted)
                except Exception as exc:  # the database may be down for a while
                    log.warning("idempotency key purge failed: %s", exc)
                await asyncio.sleep(interval_s)

        task = asyncio.create_task(loop(), name="idempotency-purge")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return ctx
