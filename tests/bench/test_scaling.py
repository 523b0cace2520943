"""The catalog-size benchmark's pure parts: generated catalog, plan verdicts, table."""

from __future__ import annotations

import base64
from typing import Any

from benchkit import scaling

from svc_book.search import STOP_WORDS, index_text, words


def test_vocabulary_words_are_searchable_and_distinct() -> None:
    assert len(set(scaling.VOCABULARY)) == len(scaling.VOCABULARY)
    for word in scaling.VOCABULARY:
        assert words(word) == [word], word  # 3+ letters, one word, not a stop word
        assert word not in STOP_WORDS


def test_rows_carry_the_service_columns_and_the_planted_words() -> None:
    size = 1000
    rows = [scaling.book_row(i, size) for i in range(size)]
    assert all(len(row) == 11 for row in rows)
    isbn, title, author, description, _genre, _price, _qty, doc, etag, s_title, s_body = rows[7]
    assert isbn == scaling.isbn_of(7) and isbn.encode() in doc and len(etag) == 32
    assert s_title == index_text(title) and s_body == index_text(author, description)
    rare = [row for row in rows if scaling.RARE_TERM in row[3].split()]
    assert len(rare) == scaling.RARE_COUNT
    common = [row for row in rows if scaling.COMMON_TERM in row[3].split()]
    assert len(common) == 334  # one book in three


def test_deep_page_cursors_are_isbns_inside_the_catalog() -> None:
    deep = next(c for c in scaling.cases_for(1000) if c.name == "list-deep-page")
    for path in deep.paths:
        cursor = path.split("cursor=", 1)[1]
        isbn = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        assert scaling.isbn_of(0) < isbn < scaling.isbn_of(1000)


def test_a_full_scan_of_books_fails_a_search_but_a_bounded_derived_table_does_not() -> None:
    scan: list[list[dict[str, Any]]] = [[{"table": "books", "type": "ALL", "key": None}]]
    derived: list[list[dict[str, Any]]] = [[{"table": "<derived2>", "type": "ALL", "key": None},
                {"table": "books", "type": "index", "key": "PRIMARY"}]]
    fulltext: list[list[dict[str, Any]]] = [[{"table": "books", "type": "fulltext", "key": "ft_books_search"}]]
    assert scaling.plan_verdict(scan, search=True)[0] is False
    assert scaling.plan_verdict(scan, search=True)[1].startswith("FULL SCAN")
    assert scaling.plan_verdict(scan, search=False)[0] is True
    assert scaling.plan_verdict(derived, search=True)[0] is True
    ok, summary = scaling.plan_verdict(fulltext + derived, search=True)
    assert ok and summary.count(" | ") == 1 and "fulltext/ft_books_search" in summary


def test_table_gives_the_ratio_of_the_largest_size_to_the_smallest() -> None:
    results = [scaling.ScaleResult(1000, "point-get", p50_ms=1.0, plan="books:const/PRIMARY",
                                   extra={"sql_ms": 0.1}),
               scaling.ScaleResult(10**6, "point-get", p50_ms=2.5, plan="books:const/PRIMARY",
                                   extra={"sql_ms": 0.2}),
               scaling.ScaleResult(1000, "search-rare", p50_ms=1.0, plan_ok=False,
                                   plan="FULL SCAN books:ALL/-"),
               scaling.ScaleResult(10**6, "search-rare", error="wrk failed")]
    lines = scaling.format_table(results, [1000, 10**6]).splitlines()
    assert "2.5x" in lines[1] and "ok  books:const/PRIMARY" in lines[1]
    assert lines[2].split()[1:4] == ["1.00", "-", "-"] and "FAIL wrk failed" in lines[2]
