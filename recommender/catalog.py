"""What the engine recommends, from `data.json`.

* An ISBN listed under `related` gets exactly those titles (an empty list means 204).
* Any other ISBN: when its last digit is even, no recommendations (204); otherwise three
  titles picked deterministically from `titles` (ordered by a SHA-256 of the two ISBNs), so
  the demo catalog gets stable answers for about half of its books and 204 for the rest.

ISBNs are compared without hyphens or spaces and upper-cased: `978-0-321-55268-6` and
`9780321552686` are the same book. A title is never recommended for itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("data.json")
PICK_COUNT = 3


def normalize_isbn(isbn: str) -> str:
    return isbn.replace("-", "").replace(" ", "").upper()


@dataclass(frozen=True, slots=True)
class Title:
    isbn: str
    title: str
    authors: str
    publisher: str

    def to_json(self) -> dict[str, str]:
        return {
            "isbn": self.isbn, "title": self.title, "authors": self.authors,
            "publisher": self.publisher,
        }


class Catalog:
    def __init__(self, titles: list[Title], related: dict[str, list[str]]) -> None:
        self._titles = titles
        by_isbn = {normalize_isbn(t.isbn): t for t in titles}
        self._related: dict[str, list[Title]] = {}
        for isbn, picks in related.items():
            unknown = [p for p in picks if normalize_isbn(p) not in by_isbn]
            if unknown:
                raise ValueError(f"related[{isbn}] names titles not in the list: {unknown}")
            self._related[normalize_isbn(isbn)] = [by_isbn[normalize_isbn(p)] for p in picks]

    @classmethod
    def load(cls, path: Path = DATA_FILE) -> Catalog:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        titles = [Title(**item) for item in data["titles"]]
        return cls(titles, data.get("related", {}))

    def recommend(self, isbn: str) -> list[Title]:
        key = normalize_isbn(isbn)
        if key in self._related:
            return list(self._related[key])
        if not key or (key[-1].isdigit() and int(key[-1]) % 2 == 0):
            return []
        candidates = [t for t in self._titles if normalize_isbn(t.isbn) != key]
        candidates.sort(
            key=lambda t: hashlib.sha256(f"{key}/{normalize_isbn(t.isbn)}".encode()).digest()
        )
        return candidates[:PICK_COUNT]
