"""Book service HTTP handlers: parse, call, shape, return."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from libcommon.conditional import (
    ETAG_HEADER,
    StaleVersion,
    etag_value,
    if_match_tags,
    is_not_modified,
    not_modified,
    precondition_failed,
    resource_tag,
)
from libcommon.db import DuplicateKeyError
from libcommon.errors import ApiError
from libcommon.idempotency import created_response, idempotency_key
from libcommon.jsonio import dumps, json_response, raw_json_response, read_json
from libcommon.urls import resource_path
from libcommon.validation import parse_model
from svc_book.models import Book, BookQuery, is_valid_isbn
from svc_book.related import RELATED_BOOKS_KEY
from svc_book.repository import BookRepository
from svc_book.search import MIN_WORD, SearchQuery

BOOKS_KEY = web.AppKey("books", BookRepository)

DUPLICATE_ISBN = "This ISBN already exists in the system."


def _not_found(isbn: str) -> ApiError:
    return ApiError(404, f"No book with ISBN {isbn}.")


def encode_cursor(isbn: str) -> str:
    return base64.urlsafe_b64encode(isbn.encode()).decode().rstrip("=")


_BAD_CURSOR = "cursor is not valid: use the `next` value of a previous page."
NO_SEARCH_WORD = (
    f"q has no word to search for: give at least one word of {MIN_WORD} or more letters or "
    "digits that is not a stop word (see the API description)."
)


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def decode_cursor(cursor: str) -> str:
    isbn = _decode(cursor)
    if not is_valid_isbn(isbn):
        raise ApiError(400, _BAD_CURSOR)
    return isbn


def encode_search_cursor(position: tuple[int, str]) -> str:
    rank, isbn = position
    return encode_cursor(f"{rank}:{isbn}")


def decode_search_cursor(cursor: str) -> tuple[int, str]:
    rank, _sep, isbn = _decode(cursor).partition(":")
    if rank not in ("0", "1") or not is_valid_isbn(isbn):
        raise ApiError(400, _BAD_CURSOR)
    return int(rank), isbn


async def create_book(request: web.Request) -> web.Response:
    book = parse_model(Book, await read_json(request, exact_numbers=True))
    key = idempotency_key(request)
    try:
        created, replayed = await request.app[BOOKS_KEY].add(
            book, path=resource_path("books", book.isbn), idempotency_key=key)
    except DuplicateKeyError:
        raise ApiError(422, DUPLICATE_ISBN) from None
    return created_response(request, created, replayed)


async def update_book(request: web.Request) -> web.Response:
    isbn = request.match_info["isbn"]
    book = parse_model(Book, await read_json(request, exact_numbers=True))
    if book.isbn != isbn:
        raise ApiError(400, "The ISBN in the body must match the ISBN in the path.")
    try:
        stored = await request.app[BOOKS_KEY].update(book, if_match=if_match_tags(request))
    except StaleVersion:
        raise precondition_failed("book") from None
    if stored is None:
        raise _not_found(isbn)
    doc, tag = stored
    return raw_json_response(doc, headers={ETAG_HEADER: etag_value(tag)})


async def get_book(request: web.Request) -> web.Response:
    isbn = request.match_info["isbn"]
    stored = await request.app[BOOKS_KEY].get_json(isbn) if is_valid_isbn(isbn) else None
    if stored is None:
        raise _not_found(isbn)
    tag = resource_tag(stored)
    if is_not_modified(request, tag):
        return not_modified(tag)
    return raw_json_response(stored, headers={ETAG_HEADER: etag_value(tag)})


async def delete_book(request: web.Request) -> web.Response:
    isbn = request.match_info["isbn"]
    try:
        deleted = is_valid_isbn(isbn) and await request.app[BOOKS_KEY].delete(
            isbn, if_match=if_match_tags(request))
    except StaleVersion:
        raise precondition_failed("book") from None
    if not deleted:
        raise _not_found(isbn)
    return web.Response(status=204)


async def list_books(request: web.Request) -> web.Response:
    query = parse_model(BookQuery, dict(request.query))
    books = request.app[BOOKS_KEY]
    next_cursor: str | None
    if query.q is None:
        after = decode_cursor(query.cursor) if query.cursor else None
        items, next_after = await books.list_json(
            limit=query.limit, after_isbn=after, author=query.author, genre=query.genre
        )
        next_cursor = encode_cursor(next_after) if next_after is not None else None
    else:
        search = SearchQuery.parse(query.q)
        if search is None:
            raise ApiError(400, NO_SEARCH_WORD)
        position = decode_search_cursor(query.cursor) if query.cursor else None
        items, next_position = await books.search_json(
            search, limit=query.limit, after=position, author=query.author, genre=query.genre
        )
        next_cursor = encode_search_cursor(next_position) if next_position else None
    # The stored documents are spliced in as they are: no parse and re-encode per book.
    body = b'{"items":[' + b",".join(items) + b'],"next":' + dumps(next_cursor) + b"}"
    return raw_json_response(body)


async def related_books(request: web.Request) -> web.Response:
    # Any ISBN may be asked: the engine, not our catalog, decides what is related.
    isbn = request.match_info["isbn"]
    if not is_valid_isbn(isbn):
        raise ApiError(404, f"No related books for ISBN {isbn}.")
    items = await request.app[RELATED_BOOKS_KEY].fetch(isbn)
    if not items:
        return web.Response(status=204)
    return json_response(items)


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/books", create_book)
    router.add_get("/books", list_books)
    # /books/isbn/{isbn} before /books/{isbn}/...: aiohttp matches in registration order.
    router.add_get("/books/isbn/{isbn}", get_book)
    router.add_get("/books/{isbn}/related-books", related_books)
    router.add_get("/books/{isbn}", get_book)
    router.add_put("/books/{isbn}", update_book)
    router.add_delete("/books/{isbn}", delete_book)
