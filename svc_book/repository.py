"""Books in SQL. Uniqueness is the primary key's job, never a check-then-insert."""

from __future__ import annotations

from typing import Any

from libcommon.db import Database
from svc_book.models import Book

_COLUMNS = "isbn, title, author, description, genre, price, quantity, doc"
_SELECT_DOC = "SELECT doc FROM books WHERE isbn = %s"
_INSERT = f"INSERT INTO books ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
_UPDATE = (
    "UPDATE books SET title = %s, author = %s, description = %s, genre = %s, price = %s, "
    "quantity = %s, doc = %s WHERE isbn = %s"
)
_DELETE = "DELETE FROM books WHERE isbn = %s"
LIKE_ESCAPE = "!"


def _like_pattern(text: str) -> str:
    escaped = (
        text.lower()
        .replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )
    return f"%{escaped}%"


class BookRepository:
    """Each row keeps the book's JSON (`doc`, written with the columns) so reads return it
    as stored: one column to fetch, nothing to rebuild."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_json(self, isbn: str) -> bytes | None:
        row = await self._db.point_reads.fetch_one(_SELECT_DOC, (isbn,))
        return bytes(row["doc"]) if row else None

    async def add(self, book: Book) -> bytes:
        """The stored JSON. Raises DuplicateKeyError when the ISBN exists."""
        doc = book.to_json_bytes()
        await self._db.execute(
            _INSERT,
            (book.isbn, book.title, book.author, book.description, book.genre,
             str(book.price), book.quantity, doc),
        )
        return doc

    async def update(self, book: Book) -> bytes | None:
        """The stored JSON, or None when there is no book with this ISBN."""
        doc = book.to_json_bytes()
        result = await self._db.execute(
            _UPDATE,
            (book.title, book.author, book.description, book.genre, str(book.price),
             book.quantity, doc, book.isbn),
        )
        return doc if result.rowcount > 0 else None

    async def delete(self, isbn: str) -> bool:
        result = await self._db.execute(_DELETE, (isbn,))
        return result.rowcount > 0

    async def list_json(
        self,
        *,
        limit: int,
        after_isbn: str | None = None,
        q: str | None = None,
        author: str | None = None,
        genre: str | None = None,
    ) -> tuple[list[bytes], str | None]:
        """Books' JSON in ISBN order after `after_isbn`, and the ISBN to continue after
        (None on the last page)."""
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
        sql = "SELECT isbn, doc FROM books"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY isbn LIMIT %s"
        params.append(limit + 1)
        rows = await self._db.list_reads.fetch_all(sql, params)
        page = rows[:limit]
        next_after = page[-1]["isbn"] if len(rows) > limit and page else None
        return [bytes(row["doc"]) for row in page], next_after
