"""Customers in SQL. userId uniqueness is the unique key's job, never a check-then-insert."""

from __future__ import annotations

from libcommon.conditional import StaleVersion, etag_condition, resource_tag
from libcommon.db import Database, Executor, Row
from libcommon.events import customer_registered_record
from libcommon.idempotency import Created, IdempotencyKeys, request_fingerprint
from libcommon.outbox.unit_of_work import OutboxTransaction, OutboxUnitOfWork
from libcommon.urls import resource_path
from svc_customer.models import CustomerData, StoredCustomer, render_customer, user_id_key

_SELECT = "SELECT id, doc FROM customers"
_INSERT = (
    "INSERT INTO customers (user_id, user_id_key, name, phone, address, address2, city, state, "
    "zipcode, doc, etag) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_UPDATE = (
    "UPDATE customers SET user_id = %s, user_id_key = %s, name = %s, phone = %s, address = %s, "
    "address2 = %s, city = %s, state = %s, zipcode = %s, doc = %s, etag = %s WHERE id = %s"
)
_DELETE = "DELETE FROM customers WHERE id = %s"


def _json(row: Row) -> tuple[bytes, str]:
    """The API's JSON and the customer's tag (of the document: the id never changes)."""
    document = bytes(row["doc"])
    return render_customer(int(row["id"]), document), resource_tag(document)


def _values(data: CustomerData, document: bytes) -> tuple[str | bytes | None, ...]:
    return (data.user_id, user_id_key(data.user_id), data.name, data.phone, data.address,
            data.address2, data.city, data.state, data.zipcode, document,
            resource_tag(document))


class CustomerRepository:
    """Each row keeps the customer's JSON minus the id (`doc`, written with the columns), so
    reads return it as stored. Registration goes through the unit of work: the customer and
    its event commit together, then the unit of work wakes the relay."""

    def __init__(self, db: Database, unit_of_work: OutboxUnitOfWork, *, topic: str,
                 idempotency_ttl_s: int = 86_400) -> None:
        self._db = db
        self._unit_of_work = unit_of_work
        self._topic = topic
        self.keys = IdempotencyKeys(db, ttl_s=idempotency_ttl_s)

    async def get_json(self, customer_id: int) -> tuple[bytes, str] | None:
        """The customer's JSON and tag."""
        row = await self._db.point_reads.fetch_one(f"{_SELECT} WHERE id = %s", (customer_id,))
        return _json(row) if row else None

    async def find_json_by_user_id(self, user_id: str) -> tuple[bytes, str] | None:
        """Case-insensitive (see `user_id_key`)."""
        row = await self._db.point_reads.fetch_one(
            f"{_SELECT} WHERE user_id_key = %s", (user_id_key(user_id),)
        )
        return _json(row) if row else None

    async def register(
        self, data: CustomerData, *, idempotency_key: str | None = None
    ) -> tuple[Created, bool]:
        """Store a new customer and its registered event (whose value is the customer's JSON)
        in one transaction; the 201 answer, and whether it replays an earlier request with
        the same Idempotency-Key (then nothing is stored: no customer, no event).

        Raises DuplicateKeyError (nothing stored) when the userId is taken.
        """
        document = data.document()
        values = _values(data, document)

        async def insert(work: OutboxTransaction) -> Created:
            result = await work.tx.execute(_INSERT, values)
            assert result.lastrowid is not None
            customer = StoredCustomer(result.lastrowid, render_customer(result.lastrowid, document))
            event = customer_registered_record(customer.id, customer.json)
            await work.enqueue(
                topic=self._topic, key=event.key, payload=event.value,
                headers=event.headers, event_id=event.event_id,
            )
            return Created(customer.json, resource_path("customers", str(customer.id)),
                           resource_tag(document))

        return await self.keys.create_once(
            idempotency_key, request_fingerprint(document), insert,
            begin=self._unit_of_work.begin, executor=_tx_of)

    async def update(
        self, customer_id: int, data: CustomerData, *, if_match: tuple[str, ...] | None = None
    ) -> tuple[StoredCustomer, str] | None:
        """Replace every field; the customer and its tag, None when there is no such
        customer. With `if_match`, written only when its tag is one of them (in the same
        statement), else StaleVersion.

        Raises DuplicateKeyError when another customer has the userId.
        """
        document = data.document()
        condition, tags = etag_condition(if_match)
        result = await self._db.execute(
            _UPDATE + condition, (*_values(data, document), customer_id, *tags))
        if result.rowcount > 0:
            customer = StoredCustomer(customer_id, render_customer(customer_id, document))
            return customer, resource_tag(document)
        if if_match is not None and await self._exists(customer_id):
            raise StaleVersion
        return None

    async def delete(self, customer_id: int, *, if_match: tuple[str, ...] | None = None) -> bool:
        """False when there is no such customer; StaleVersion when If-Match does not match."""
        condition, tags = etag_condition(if_match)
        result = await self._db.execute(_DELETE + condition, (customer_id, *tags))
        if result.rowcount > 0:
            return True
        if if_match is not None and await self._exists(customer_id):
            raise StaleVersion
        return False

    async def _exists(self, customer_id: int) -> bool:
        # Only picks the status of a write that did not happen (412 or 404).
        return await self._db.fetch_one("SELECT 1 AS found FROM customers WHERE id = %s",
                                        (customer_id,)) is not None


def _tx_of(work: OutboxTransaction) -> Executor:
    return work.tx
