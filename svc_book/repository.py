"""Books in SQL. Uniqueness is the primary key's job, never a check-then-insert."""

from __future__ import annotations

from typing import Any

from libcommon.db import Database
from svc_book.models import Book
from svc_book.search import SearchQuery, index_text

_COLUMNS = (
    "isbn, title, author, description, genre, price, quantity, doc, search_title, search_body"
)
_SELECT_DOC = "SELECT doc FROM books WHERE isbn = %s"
_INSERT = (
    f"INSERT INTO books ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
)
_UPDATE = (
    "UPDATE books SET title = %s, author = %s, description = %s, genre = %s, price = %s, "
    "quantity = %s, doc = %s, search_title = %s, search_body = %s WHERE isbn = %s"
)
_DELETE = "DELETE FROM books WHERE isbn = %s"

# Rank of a match (svc_book.search): 1 when the title holds every query word, else 0.
_MYSQL_MATCH = "MATCH (search_title, search_body) AGAINST (%s IN BOOLEAN MODE)"
_MYSQL_RANK = "(MATCH (search_title) AGAINST (%s IN BOOLEAN MODE) > 0)"
# FTS5: the match drives the query through the books_fts index; the rank is a semi-join on
# the title-only match, evaluated once per query.
_SQLITE_FROM = "books_fts JOIN books ON books.rowid = books_fts.rowid"
_SQLITE_MATCH = "books_fts MATCH %s"
_SQLITE_RANK = "(books.rowid IN (SELECT rowid FROM books_fts WHERE books_fts MATCH %s))"


def _search_columns(book: Book) -> tuple[str, str]:
    return index_text(book.title), index_text(book.author, book.description)


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
             str(book.price), book.quantity, doc, *_search_columns(book)),
        )
        return doc

    async def update(self, book: Book) -> bytes | None:
        """The stored JSON, or None when there is no book with this ISBN."""
        doc = book.to_json_bytes()
        result = await self._db.execute(
            _UPDATE,
            (book.title, book.author, book.description, book.genre, str(book.price),
             book.quantity, doc, *_search_columns(book), book.isbn),
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
        author: str | None = None,
        genre: str | None = None,
    ) -> tuple[list[bytes], str | None]:
        """Books' JSON in ISBN order after `after_isbn`, and the ISBN to continue after
        (None on the last page)."""
        where, params = _filters(author, genre)
        if after_isbn is not None:
            where.append("isbn > %s")
            params.append(after_isbn)
        sql = "SELECT isbn, doc FROM books"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY isbn LIMIT %s"
        params.append(limit + 1)
        rows = await self._db.list_reads.fetch_all(sql, params)
        page = rows[:limit]
        next_after = page[-1]["isbn"] if len(rows) > limit and page else None
        return [bytes(row["doc"]) for row in page], next_after

    async def search_json(
        self,
        query: SearchQuery,
        *,
        limit: int,
        after: tuple[int, str] | None = None,
        author: str | None = None,
        genre: str | None = None,
    ) -> tuple[list[bytes], tuple[int, str] | None]:
        """Matches' JSON ranked (rank descending, then ISBN), and the (rank, ISBN) position to
        continue after (None on the last page)."""
        if self._db.dialect == "mysql":
            source, match, rank = "books", _MYSQL_MATCH, _MYSQL_RANK
            match_arg, rank_arg = query.mysql_boolean(), query.mysql_boolean()
        else:
            source, match, rank = _SQLITE_FROM, _SQLITE_MATCH, _SQLITE_RANK
            match_arg, rank_arg = query.fts5(), query.fts5("search_title")
        where, params = _filters(author, genre)
        where.insert(0, match)
        params.insert(0, match_arg)
        if after is not None:
            after_rank, after_isbn = after
            where.append(f"({rank} < %s OR ({rank} = %s AND books.isbn > %s))")
            params.extend([rank_arg, after_rank, rank_arg, after_rank, after_isbn])
        sql = (
            f"SELECT books.isbn AS isbn, books.doc AS doc, {rank} AS search_rank "  # noqa: S608
            f"FROM {source} WHERE {' AND '.join(where)} "
            "ORDER BY search_rank DESC, books.isbn LIMIT %s"
        )
        rows = await self._db.list_reads.fetch_all(sql, [rank_arg, *params, limit + 1])
        page = rows[:limit]
        last = page[-1] if len(rows) > limit and page else None
        next_after = (int(last["search_rank"]), last["isbn"]) if last else None
        return [bytes(row["doc"]) for row in page], next_after


def _filters(author: str | None, genre: str | None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if author is not None:
        where.append("books.author = %s")
        params.append(author)
    if genre is not None:
        where.append("books.genre = %s")
        params.append(genre)
    return where, params
