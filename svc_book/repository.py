"""Books in SQL. Uniqueness is the primary key's job, never a check-then-insert."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from libcommon.db import Database, Row
from svc_book.models import Book

_COLUMNS = "isbn, title, author, description, genre, price, quantity"
_SELECT_ONE = f"SELECT {_COLUMNS} FROM books WHERE isbn = %s"  # noqa: S608 - constant
_INSERT = f"INSERT INTO books ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
_UPDATE = (
    "UPDATE books SET title = %s, author = %s, description = %s, genre = %s, price = %s, "
    "quantity = %s WHERE isbn = %s"
)
_DELETE = "DELETE FROM books WHERE isbn = %s"
LIKE_ESCAPE = "!"


def _book(row: Row) -> Book:
    # SQLite keeps the price as TEXT (exact); MySQL returns a Decimal.
    return Book.model_construct(
        isbn=row["isbn"],
        title=row["title"],
        author=row["author"],
        description=row["description"],
        genre=row["genre"],
        price=Decimal(str(row["price"])),
        quantity=int(row["quantity"]),
    )


def _like_pattern(text: str) -> str:
    escaped = (
        text.lower()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


class BookRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, isbn: str) -> Book | None:
        row = await self._db.fetch_one(_SELECT_ONE, (isbn,))
        return _book(row) if row else None

    async def add(self, book: Book) -> None:
        """Raises DuplicateKeyError when the ISBN exists."""
        await self._db.execute(
            _INSERT,
            (book.isbn, book.title, book.author, book.description, book.genre,
             str(book.price), book.quantity),
        )

    async def update(self, book: Book) -> bool:
        result = await self._db.execute(
            _UPDATE,
            (book.title, book.author, book.description, book.genre, str(book.price),
             book.quantity, book.isbn),
        )
        return result.rowcount > 0

    async def delete(self, isbn: str) -> bool:
        result = await self._db.execute(_DELETE, (isbn,))
        return result.rowcount > 0

    async def list(
        self,
        *,
        limit: int,
        after_isbn: str | None = None,
        q: str | None = None,
        author: str | None = None,
        genre: str | None = None,
    ) -> tuple[list[Book], bool]:
        """Books in ISBN order after `after_isbn`; also whether more follow."""
        where: list[str] = []
        params: list[Any] = []
        if after_isbn is not None:
            where.append("isbn > %s")
            params.append(after_isbn)
        if author is not None:
            where.append("author = %s")
            params.append(author)
        if genre is not None:
            where.append("genre = %s")
            params.append(genre)
        if q is not None:
            pattern = _like_pattern(q)
            where.append(
                "(" + " OR ".join(
                    f"LOWER({column}) LIKE %s ESCAPE '{LIKE_ESCAPE}'"
                    for column in ("title", "author", "description")
                ) + ")"
            )
            params.extend([pattern] * 3)
        sql = f"SELECT {_COLUMNS} FROM books"  # noqa: S608 - only constant fragments
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY isbn LIMIT %s"
        params.append(limit + 1)
        rows = await self._db.fetch_all(sql, params)
        return [_book(row) for row in rows[:limit]], len(rows) > limit
