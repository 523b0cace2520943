"""Catalog search semantics, defined once in Python so that MariaDB FULLTEXT and SQLite FTS5
return the same matches.

Both engines index text that this module has already normalized (`search_title`,
`search_body`): words are the maximal runs of Unicode letters and digits, folded to lower case
without accents (NFKD, combining marks dropped, casefold: "Café" -> "cafe", "Straße" ->
"strasse"); words shorter than MIN_WORD characters and the stop words are left out; words are
cut at MAX_WORD characters. Neither engine then has anything left to decide: MariaDB's
`innodb_ft_min_token_size` (3), its 84-character token limit and its default stop-word list
see only words they keep, and FTS5 sees the same words.

A query `q` is normalized the same way. Every remaining word must match (AND), as a word
prefix ("hobbit" finds "hobbits"), anywhere in title, Author or description. Short words and
stop words in `q` are ignored; a `q` with no word left (one letter, "C++", "the") has nothing
an index can answer and is refused (400) rather than silently matching everything or nothing.

Ranking: books whose title holds every query word first, then the rest; ISBN order within
each group. The rank depends only on the book and the query, never on the rest of the catalog
(unlike tf-idf or BM25 scores), so a cursor (rank, ISBN) visits every match exactly once even
while other books are written.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MIN_WORD = 3
MAX_WORD = 84
MAX_QUERY_WORDS = 16

# InnoDB's default stop-word list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD): never
# indexed by MariaDB, so left out on both engines.
STOP_WORDS = frozenset({
    "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for", "from", "how",
    "i", "in", "is", "it", "la", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "who", "will", "with", "und", "www",
})


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """The searchable words of `text`, in order (duplicates kept)."""
    folded = _fold(text)
    out: list[str] = []
    start = -1
    for i, char in enumerate(folded + " "):
        if char.isalnum():
            if start < 0:
                start = i
        elif start >= 0:
            word = folded[start:i]
            start = -1
            if len(word) >= MIN_WORD and word not in STOP_WORDS:
                out.append(word[:MAX_WORD])
    return out


def index_text(*fields: str) -> str:
    """What a search column stores: the fields' words separated by single spaces."""
    return " ".join(word for field in fields for word in words(field))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """The distinct words of a `q`, each matched as a word prefix."""

    terms: tuple[str, ...]

    @classmethod
    def parse(cls, q: str) -> SearchQuery | None:
        """None when `q` has no searchable word."""
        terms = tuple(dict.fromkeys(words(q)))[:MAX_QUERY_WORDS]
        return cls(terms) if terms else None

    def mysql_boolean(self) -> str:
        """MATCH ... AGAINST (... IN BOOLEAN MODE): every word required, as a prefix. Words
        are letters and digits only, so no operator can reach the server."""
        return " ".join(f"+{term}*" for term in self.terms)

    def fts5(self, column: str | None = None) -> str:
        """An FTS5 MATCH expression: every word required, as a prefix; optionally restricted
        to one column."""
        expression = " AND ".join(f'"{term}"*' for term in self.terms)
        return f"{column} : ({expression})" if column else expression
