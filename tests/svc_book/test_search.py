"""Full-text search (`GET /books?q=`): one fixture set, both engines (MariaDB FULLTEXT and
SQLite FTS5), the same answers, checked against the rules of svc_book.search."""

from __future__ import annotations

import random
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from svc_book import repository
from svc_book.search import SearchQuery, index_text, words
from tests.builders import book

Client = TestClient[Any, Any]

# (ISBN, title, Author, description, genre)
CATALOG = [
    ("s01", "The Hobbit", "J. R. R. Tolkien", "There and back again", "fantasy"),
    ("s02", "Dune", "Frank Herbert", "Desert planet; the HOBBITS are not here", "sf"),
    ("s03", "Café Society", "Émile Zola", "Paris cafés and their patrons", "novel"),
    ("s04", "Straße der Hoffnung", "Jürgen Müller", "Eine Reise", "novel"),
    ("s05", "Война и мир", "Лев Толстой", "Роман-эпопея", "novel"),
    ("s06", "1984", "George Orwell", "Big Brother is watching you", "sf"),
    ("s07", "It", "Stephen King", "A clown in the sewers of Derry", "horror"),
    ("s08", "C++ Primer", "Stanley Lippman", "The C++ language, from the ground up", "tech"),
    ("s09", "Cats & Dogs", "O'Brien, P.", "What cats do when dogs sleep", "kids"),
    ("s10", "The Lord of the Rings", "J. R. R. Tolkien", "The hobbits leave the Shire", "fantasy"),
    ("s11", "Hobbit-Forming Habits", "N. Body", "self_help for hobbitses", "self-help"),
    ("s12", "Ἰλιάς", "Ὅμηρος", "Ἄειδε θεά", "epic"),
]


def _book(isbn: str, title: str, author: str, description: str, genre: str) -> dict[str, Any]:
    return book(isbn, title=title, Author=author, description=description, genre=genre)


async def _seed(client: Client, rows: list[tuple[str, str, str, str, str]]) -> None:
    for row in rows:
        response = await client.post("/books", json=_book(*row))
        assert response.status == 201, await response.text()


async def _search(client: Client, **params: Any) -> list[str]:
    """Every page of a search, ISBNs in order."""
    seen: list[str] = []
    cursor = None
    for _ in range(1000):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/books", params=query)
        assert response.status == 200, await response.text()
        page = await response.json()
        seen.extend(b["ISBN"] for b in page["items"])
        cursor = page["next"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


def _reference(rows: list[tuple[str, str, str, str, str]], q: str) -> list[str]:
    """The rules of svc_book.search evaluated in Python, row by row."""
    parsed = SearchQuery.parse(q)
    assert parsed is not None
    ranked = []
    for isbn, title, author, description, _genre in rows:
        every = index_text(title, author, description).split()
        if all(any(w.startswith(t) for w in every) for t in parsed.terms):
            in_title = all(any(w.startswith(t) for w in words(title)) for t in parsed.terms)
            ranked.append((0 if in_title else 1, isbn))
    return [isbn for _rank, isbn in sorted(ranked)]


QUERIES = [
    ("hobbit", ["s01", "s11", "s02", "s10"]),          # title matches first, then ISBN order
    ("HOBBIT", ["s01", "s11", "s02", "s10"]),          # case-insensitive
    ("hob", ["s01", "s11", "s02", "s10"]),             # word prefixes
    ("hobbits", ["s02", "s10", "s11"]),                # a longer prefix narrows
    ("tolkien hobbit", ["s01", "s10"]),                # every word, across fields
    ("hobbit tolkien", ["s01", "s10"]),                # order of words is irrelevant
    ("cafe", ["s03"]), ("CAFÉS", ["s03"]),             # accents and case folded
    ("emile zola", ["s03"]),
    ("strasse", ["s04"]), ("müller", ["s04"]), ("muller", ["s04"]),
    ("толстой", ["s05"]), ("ТОЛСТ", ["s05"]), ("эпопея", ["s05"]),  # Cyrillic
    ("ομηρος", ["s12"]), ("ΙΛΙΑΣ", ["s12"]),          # Greek, polytonic accents folded
    ("1984", ["s06"]), ("198", ["s06"]),
    ("brother watching", ["s06"]),
    ("the hobbit", ["s01", "s11", "s02", "s10"]),      # stop words ignored
    ("a clown", ["s07"]),
    ("c++ primer", ["s08"]),                           # short words ignored
    ("o'brien", ["s09"]), ("brien", ["s09"]),          # apostrophe separates words
    ("self help", ["s11"]), ("help", ["s11"]),         # `_` and `-` separate words
    ("forming", ["s11"]),
    ("hobbit zzz", []), ("nothing", []),
    ("wha", []),                                       # "what" is a stop word, not indexed
    ("'drop table books;--", []),                      # no query syntax reaches the engine
    ('"hobbit" OR dune*', ["s02"]),                    # no syntax: words, all required
]


@pytest.mark.parametrize(("q", "expected"), QUERIES)
async def test_catalog_queries(client: Client, q: str, expected: list[str]) -> None:
    await _seed(client, CATALOG)
    assert await _search(client, q=q, limit=3) == expected
    assert expected == _reference(CATALOG, q)


async def test_queries_without_a_word_are_400(client: Client) -> None:
    await _seed(client, CATALOG[:2])
    for q in ("a", "It", "C++", "to be or", "%", "--", "é"):
        response = await client.get("/books", params={"q": q})
        assert response.status == 400, q
        assert "q has no word" in (await response.json())["message"]


async def test_filters_combine_with_q(client: Client) -> None:
    await _seed(client, CATALOG)
    assert await _search(client, q="hobbit", genre="fantasy") == ["s01", "s10"]
    assert await _search(client, q="hobbit", author="J. R. R. Tolkien", genre="sf") == []
    assert await _search(client, q="hobbit", author="Frank Herbert") == ["s02"]
    assert await _search(client, q="hobbit", author="frank herbert") == []  # exact


async def test_index_follows_updates_and_deletes(client: Client) -> None:
    await _seed(client, CATALOG[:2])
    assert await _search(client, q="dune") == ["s02"]
    changed = _book("s02", "Children of Dune", "Frank Herbert", "Sequel", "sf")
    assert (await client.put("/books/s02", json=changed)).status == 200
    assert await _search(client, q="hobbits") == []
    assert await _search(client, q="children") == ["s02"]
    assert (await client.delete("/books/s02")).status == 204
    assert await _search(client, q="dune") == []
    assert await _search(client, q="hobbit") == ["s01"]


async def test_bad_search_cursor_is_400(client: Client) -> None:
    await _seed(client, CATALOG[:3])
    page = await (await client.get("/books", params={"limit": 1})).json()
    plain_cursor = page["next"]  # an ISBN without a rank
    for cursor in ("!!!", plain_cursor, "Mjpz"):  # "2:s" -> rank 2 does not exist
        response = await client.get("/books", params={"q": "hobbit", "cursor": cursor})
        assert response.status == 400, cursor


VOCABULARY = ["alpha", "alphabet", "beta", "betamax", "gamma", "delta", "deltas", "epsilon",
              "zeta", "éta", "Theta", "iota", "kappa", "lambda", "mu", "nu", "the", "of"]


def _generated_catalog(count: int, seed: int) -> list[tuple[str, str, str, str, str]]:
    rng = random.Random(seed)
    def text(n: int) -> str:
        return " ".join(rng.choice(VOCABULARY) for _ in range(n))
    return [(f"g{i:04d}", text(3), text(2), text(12), rng.choice(["x", "y"]))
            for i in range(count)]


@pytest.mark.parametrize("window", [1000, 3])
async def test_generated_catalog_matches_the_rules_with_paging_under_writes(
    client: Client, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 3: most of each page comes from the full-text index, not the window of ISBN order.
    monkeypatch.setattr(repository, "SCAN_WINDOW", window)
    rows = _generated_catalog(150, seed=19)
    await _seed(client, rows)
    for q in ("alpha", "alphab", "beta delta", "ETA", "theta kappa lam", "zeta iota epsilon"):
        assert await _search(client, q=q, limit=7) == _reference(rows, q), q

    # Writes between pages (new matches and non-matches) do not repeat or skip the matches
    # that existed when paging started: the rank depends on the book alone.
    before = _reference(rows, "gamma")
    seen: list[str] = []
    cursor = None
    extra = 0
    while True:
        params: dict[str, Any] = {"q": "gamma", "limit": 6, **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/books", params=params)).json()
        seen.extend(b["ISBN"] for b in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
        extra += 1
        await _seed(client, [(f"w{extra:03d}", "gamma ray", "nobody", "gamma", "x"),
                             (f"a{extra:03d}", "nothing", "nobody", "none", "x")])
    assert len(seen) == len(set(seen))
    assert [isbn for isbn in seen if isbn.startswith("g")] == before


@pytest.mark.parametrize("window", [1, 2, 5])
async def test_window_and_index_answer_alike(
    client: Client, window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small scan windows: every query is answered partly from the window (LIKE on the
    normalized text) and partly from the index; the answers are the same."""
    monkeypatch.setattr(repository, "SCAN_WINDOW", window)
    await _seed(client, CATALOG)
    for q, expected in QUERIES:
        for limit in (1, 2, 20):
            assert await _search(client, q=q, limit=limit) == expected, (q, limit)
    assert await _search(client, q="hobbit", genre="fantasy", limit=1) == ["s01", "s10"]
