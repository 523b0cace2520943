"""Customers in SQL. userId uniqueness is the unique key's job, never a check-then-insert."""

from __future__ import annotations

from libcommon.db import Database, Row
from libcommon.events import build_customer_registered
from libcommon.outbox.store import enqueue
from svc_customer.models import Customer, CustomerData, user_id_key

_SELECT = "SELECT id, doc FROM customers"
_INSERT = (
    "INSERT INTO customers (user_id, user_id_key, name, phone, address, address2, city, state, "
    "zipcode, doc) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_UPDATE = (
    "UPDATE customers SET user_id = %s, user_id_key = %s, name = %s, phone = %s, address = %s, "
    "address2 = %s, city = %s, state = %s, zipcode = %s, doc = %s WHERE id = %s"
)
_DELETE = "DELETE FROM customers WHERE id = %s"


def _json(row: Row) -> bytes:
    """The API's JSON: the id the database assigned, then the stored document's fields."""
    doc = bytes(row["doc"])
    return b'{"id":' + str(int(row["id"])).encode() + b"," + doc[1:]


def _values(data: CustomerData) -> tuple[str | bytes | None, ...]:
    return (data.user_id, user_id_key(data.user_id), data.name, data.phone, data.address,
            data.address2, data.city, data.state, data.zipcode, data.document())


class CustomerRepository:
    """Each row keeps the customer's JSON minus the id (`doc`, written with the columns), so
    reads return it as stored."""

    def __init__(self, db: Database, *, topic: str) -> None:
        self._db = db
        self._topic = topic

    async def get_json(self, customer_id: int) -> bytes | None:
        row = await self._db.point_reads.fetch_one(f"{_SELECT} WHERE id = %s", (customer_id,))
        return _json(row) if row else None

    async def find_json_by_user_id(self, user_id: str) -> bytes | None:
        """Case-insensitive (see `user_id_key`)."""
        row = await self._db.point_reads.fetch_one(
            f"{_SELECT} WHERE user_id_key = %s", (user_id_key(user_id),)
        )
        return _json(row) if row else None

    async def register(self, data: CustomerData) -> tuple[Customer, bytes]:
        """Store a new customer and its registered event in one transaction; returns the
        customer and its JSON, which is the event's value (the contract: the same bytes).

        Raises DuplicateKeyError (nothing stored) when the userId is taken.
        """
        async with self._db.transaction() as tx:
            result = await tx.execute(_INSERT, _values(data))
            assert result.lastrowid is not None
            customer = Customer.stored(result.lastrowid, data)
            event = build_customer_registered(customer.to_json())
            await enqueue(
                tx, topic=self._topic, key=event.key, payload=event.value,
                headers=event.headers, event_id=event.event_id,
            )
        return customer, event.value

    async def update(self, customer_id: int, data: CustomerData) -> Customer | None:
        """Replace every field; None when there is no such customer.

        Raises DuplicateKeyError when another customer has the userId.
        """
        result = await self._db.execute(_UPDATE, (*_values(data), customer_id))
        return Customer.stored(customer_id, data) if result.rowcount > 0 else None

    async def delete(self, customer_id: int) -> bool:
        result = await self._db.execute(_DELETE, (customer_id,))
        return result.rowcount > 0
