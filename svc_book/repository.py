"""Books in SQL. Uniqueness is the primary key's job, never a check-then-insert."""

from __future__ import annotations

from typing import Any

from libcommon.conditional import StaleVersion, etag_condition, resource_tag
from libcommon.db import Database, Executor
from libcommon.db.base import Row
from libcommon.idempotency import Created, IdempotencyKeys, request_fingerprint
from svc_book.models import Book
from svc_book.search import SearchQuery, index_text

_COLUMNS = (
    "isbn, title, author, description, genre, price, quantity, doc, etag, search_title, "
    "search_body"
)
_SELECT_DOC = "SELECT doc FROM books WHERE isbn = %s"
_INSERT = (
    f"INSERT INTO books ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
)
_UPDATE = (
    "UPDATE books SET title = %s, author = %s, description = %s, genre = %s, price = %s, "
    "quantity = %s, doc = %s, etag = %s, search_title = %s, search_body = %s WHERE isbn = %s"
)
_DELETE = "DELETE FROM books WHERE isbn = %s"

# Search (svc_book.search): rank 1 when the title holds every query word, else 0; results by
# rank, then ISBN. Each rank's slice is first looked for in a window of SCAN_WINDOW books in
# ISBN order, matched with LIKE on the normalized search columns (words separated by single
# spaces, so "a word starting with t" is `' ' || text LIKE '% t%'`, exactly what the index
# answers): a common word fills a page within a few dozen rows, where the index would have to
# produce and sort every match (O(matches): 0.85 s for a word in a third of 100k books). Only
# when the window holds too few does the full-text index answer for the rest, which is then
# cheap, the word being rare.
SCAN_WINDOW = 1000
_TEXT = {
    "mysql": ("CONCAT(' ', books.search_title)",
              "CONCAT(' ', books.search_title, ' ', books.search_body)"),
    "sqlite": ("(' ' || books.search_title)",
               "(' ' || books.search_title || ' ' || books.search_body)"),
}
_MYSQL_TITLE = "MATCH (search_title) AGAINST (%s IN BOOLEAN MODE)"
_MYSQL_ALL = "MATCH (search_title, search_body) AGAINST (%s IN BOOLEAN MODE)"
_SQLITE_FTS = "books.rowid IN (SELECT rowid FROM books_fts WHERE books_fts MATCH %s)"


def _search_columns(book: Book) -> tuple[str, str]:
    return index_text(book.title), index_text(book.author, book.description)


class BookRepository:
    """Each row keeps the book's JSON (`doc`, written with the columns) so reads return it
    as stored: one column to fetch, nothing to rebuild."""

    def __init__(self, db: Database, *, idempotency_ttl_s: int = 86_400) -> None:
        self._db = db
        self.keys = IdempotencyKeys(db, ttl_s=idempotency_ttl_s)

    async def get_json(self, isbn: str) -> bytes | None:
        row = await self._db.point_reads.fetch_one(_SELECT_DOC, (isbn,))
        return bytes(row["doc"]) if row else None

    async def add(
        self, book: Book, *, path: str, idempotency_key: str | None = None
    ) -> tuple[Created, bool]:
        """The stored book's answer, and whether it is the replay of an earlier request with
        the same Idempotency-Key. Raises DuplicateKeyError when the ISBN exists."""
        doc = book.to_json_bytes()
        tag = resource_tag(doc)

        async def insert(tx: Executor) -> Created:
            await tx.execute(
                _INSERT,
                (book.isbn, book.title, book.author, book.description, book.genre,
                 str(book.price), book.quantity, doc, tag, *_search_columns(book)),
            )
            return Created(doc, path, tag)

        return await self.keys.create_once_in(idempotency_key, request_fingerprint(doc), insert)

    async def update(
        self, book: Book, *, if_match: tuple[str, ...] | None = None
    ) -> tuple[bytes, str] | None:
        """The stored JSON and its tag, or None when there is no book with this ISBN.

        With `if_match`, the row is written only when its tag is one of them (in the same
        statement); otherwise StaleVersion, nothing written.
        """
        doc = book.to_json_bytes()
        tag = resource_tag(doc)
        condition, tags = etag_condition(if_match)
        result = await self._db.execute(
            _UPDATE + condition,
            (book.title, book.author, book.description, book.genre, str(book.price),
             book.quantity, doc, tag, *_search_columns(book), book.isbn, *tags),
        )
        if result.rowcount > 0:
            return doc, tag
        if if_match is not None and await self._exists(book.isbn):
            raise StaleVersion
        return None

    async def delete(self, isbn: str, *, if_match: tuple[str, ...] | None = None) -> bool:
        """False when there is no such book; StaleVersion when If-Match does not match."""
        condition, tags = etag_condition(if_match)
        result = await self._db.execute(_DELETE + condition, (isbn, *tags))
        if result.rowcount > 0:
            return True
        if if_match is not None and await self._exists(isbn):
            raise StaleVersion
        return False

    async def _exists(self, isbn: str) -> bool:
        # Only picks the status of a write that did not happen (412 or 404).
        return await self._db.fetch_one("SELECT 1 AS found FROM books WHERE isbn = %s",
                                        (isbn,)) is not None

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
        found: list[tuple[int, Row]] = []
        if after is None or after[0] == 1:
            rows = await self._rank_slice(query, 1, after[1] if after else None, limit + 1,
                                          author, genre)
            found.extend((1, row) for row in rows)
        if len(found) <= limit:
            after_isbn = after[1] if after is not None and after[0] == 0 else None
            rows = await self._rank_slice(query, 0, after_isbn, limit + 1 - len(found),
                                          author, genre)
            found.extend((0, row) for row in rows)
        page = found[:limit]
        next_after = (page[-1][0], page[-1][1]["isbn"]) if len(found) > limit and page else None
        return [bytes(row["doc"]) for _rank, row in page], next_after

    async def _rank_slice(
        self,
        query: SearchQuery,
        rank: int,
        after_isbn: str | None,
        count: int,
        author: str | None,
        genre: str | None,
    ) -> list[Row]:
        """Up to `count` books of one rank after `after_isbn`, in ISBN order."""
        scope, scope_params = _filters(author, genre)
        if after_isbn is not None:
            scope.append("books.isbn > %s")
            scope_params.append(after_isbn)
        where = (" WHERE " + " AND ".join(scope)) if scope else ""
        # The window: the next SCAN_WINDOW books in scope, as an ISBN range (a derived table
        # of the rows would be materialized, on disk with its TEXT columns).
        boundary = await self._db.list_reads.fetch_one(
            f"SELECT books.isbn AS isbn FROM books{where} "  # noqa: S608
            "ORDER BY books.isbn LIMIT 1 OFFSET %s",
            [*scope_params, SCAN_WINDOW - 1],
        )
        like, like_params = self._like_rank(query, rank)
        window = [*scope, like]
        window_params = [*scope_params, *like_params]
        if boundary is not None:
            window.append("books.isbn <= %s")
            window_params.append(boundary["isbn"])
        rows = await self._db.list_reads.fetch_all(
            "SELECT books.isbn AS isbn, books.doc AS doc FROM books "  # noqa: S608
            f"WHERE {' AND '.join(window)} ORDER BY books.isbn LIMIT %s",
            [*window_params, count],
        )
        if len(rows) >= count or boundary is None:  # full, or the window held every book
            return rows
        indexed, indexed_params = self._indexed_rank(query, rank)
        rest, rest_params = _filters(author, genre)
        rest_sql = " AND ".join([indexed, "books.isbn > %s", *rest])
        rows.extend(await self._db.list_reads.fetch_all(
            f"SELECT books.isbn AS isbn, books.doc AS doc FROM books "  # noqa: S608
            f"WHERE {rest_sql} ORDER BY books.isbn LIMIT %s",
            [*indexed_params, boundary["isbn"], *rest_params, count - len(rows)],
        ))
        return rows

    def _like_rank(self, query: SearchQuery, rank: int) -> tuple[str, list[Any]]:
        title, everything = _TEXT[self._db.dialect]
        patterns = [f"% {term}%" for term in query.terms]
        in_title = " AND ".join(f"{title} LIKE %s" for _ in patterns)
        if rank == 1:
            return f"({in_title})", patterns
        anywhere = " AND ".join(f"{everything} LIKE %s" for _ in patterns)
        return f"({anywhere}) AND NOT ({in_title})", [*patterns, *patterns]

    def _indexed_rank(self, query: SearchQuery, rank: int) -> tuple[str, list[Any]]:
        if self._db.dialect == "mysql":
            words = query.mysql_boolean()
            if rank == 1:
                return _MYSQL_TITLE, [words]
            return f"{_MYSQL_ALL} AND {_MYSQL_TITLE} = 0", [words, words]
        if rank == 1:
            return _SQLITE_FTS, [query.fts5("search_title")]
        return (f"{_SQLITE_FTS} AND NOT {_SQLITE_FTS}",
                [query.fts5(), query.fts5("search_title")])


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
