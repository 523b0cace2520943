"""Customers in SQL. userId uniqueness is the unique key's job, never a check-then-insert."""

from __future__ import annotations

from libcommon.db import Database, Row
from libcommon.events import customer_registered_record
from libcommon.outbox.unit_of_work import OutboxUnitOfWork
from svc_customer.models import CustomerData, StoredCustomer, render_customer, user_id_key

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
    return render_customer(int(row["id"]), bytes(row["doc"]))


def _values(data: CustomerData, document: bytes) -> tuple[str | bytes | None, ...]:
    return (data.user_id, user_id_key(data.user_id), data.name, data.phone, data.address,
            data.address2, data.city, data.state, data.zipcode, document)


class CustomerRepository:
    """Each row keeps the customer's JSON minus the id (`doc`, written with the columns), so
    reads return it as stored. Registration goes through the unit of work: the customer and
    its event commit together, then the unit of work wakes the relay."""

    def __init__(self, db: Database, unit_of_work: OutboxUnitOfWork, *, topic: str) -> None:
        self._db = db
        self._unit_of_work = unit_of_work
        self._topic = topic

    async def get_json(self, customer_id: int) -> bytes | None:
        row = await self._db.fetch_one(f"{_SELECT} WHERE id = %s", (customer_id,))
        return _json(row) if row else None

    async def find_json_by_user_id(self, user_id: str) -> bytes | None:
        """Case-insensitive (see `user_id_key`)."""
        row = await self._db.fetch_one(f"{_SELECT} WHERE user_id_key = %s", (user_id_key(user_id),))
        return _json(row) if row else None

    async def register(self, data: CustomerData) -> StoredCustomer:
        """Store a new customer and its registered event (whose value is the customer's JSON)
        in one transaction.

        Raises DuplicateKeyError (nothing stored) when the userId is taken.
        """
        document = data.document()
        async with self._unit_of_work.begin() as work:
            result = await work.tx.execute(_INSERT, _values(data, document))
            assert result.lastrowid is not None
            customer = StoredCustomer(result.lastrowid, render_customer(result.lastrowid, document))
            event = customer_registered_record(customer.id, customer.json)
            await work.enqueue(
                topic=self._topic, key=event.key, payload=event.value,
                headers=event.headers, event_id=event.event_id,
            )
        return customer

    async def update(self, customer_id: int, data: CustomerData) -> StoredCustomer | None:
        """Replace every field; None when there is no such customer.

        Raises DuplicateKeyError when another customer has the userId.
        """
        document = data.document()
        result = await self._db.execute(_UPDATE, (*_values(data, document), customer_id))
        if result.rowcount == 0:
            return None
        return StoredCustomer(customer_id, render_customer(customer_id, document))

    async def delete(self, customer_id: int) -> bool:
        result = await self._db.execute(_DELETE, (customer_id,))
        return result.rowcount > 0
