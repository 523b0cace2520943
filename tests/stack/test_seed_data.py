"""The committed demo data is what the generator makes, and every row is valid per the API."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "scripts" / "seed"
COURSE_ISBNS = {"978-0-321-55268-6", "978-0321815736", "9780133065107", "978-0395489321",
                "978-0544174221"}


def _rows(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((SEED / name).read_text(encoding="utf-8"))
    return rows


@pytest.mark.slow  # starts a process
def test_committed_files_match_the_generator():
    result = subprocess.run([sys.executable, str(SEED / "generate.py"), "--check"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_books_are_valid_unique_and_include_the_course_isbns():
    from svc_book.models import Book

    books = _rows("books.json")
    assert len(books) >= 200
    parsed = [Book.model_validate(book) for book in books]
    isbns = [book.isbn for book in parsed]
    assert len(set(isbns)) == len(isbns)
    assert set(isbns) >= COURSE_ISBNS
    assert any(book.genre == "non-fiction" for book in parsed)
    assert len({book.genre for book in parsed}) >= 5
    # Prices survive a JSON round trip with at most two decimals (the model rejects more).
    assert all(book.price == book.price.quantize(Decimal("0.01")) for book in parsed)


def test_customers_are_valid_and_unique():
    from svc_customer.models import CustomerData

    customers = _rows("customers.json")
    assert len(customers) >= 200
    parsed = [CustomerData.model_validate(customer) for customer in customers]
    user_ids = [customer["userId"].lower() for customer in customers]
    assert len(set(user_ids)) == len(user_ids)
    assert all(uid.endswith(("@example.com", "@example.org")) for uid in user_ids)
    assert any("+" in uid for uid in user_ids)
    with_address2 = sum(1 for customer in customers if "address2" in customer)
    assert 0 < with_address2 < len(customers)
    assert len(parsed) == len(customers)


def test_rejects_are_invalid():
    from pydantic import ValidationError

    from svc_book.models import Book
    from svc_customer.models import CustomerData

    rejects = json.loads((SEED / "rejects.json").read_text(encoding="utf-8"))
    for book in rejects["books"]:
        try:
            Book.model_validate(book)
        except ValidationError:
            continue
        raise AssertionError(f"accepted {book}")
    for customer in rejects["customers"]:
        try:
            CustomerData.model_validate(customer)
        except ValidationError:
            continue
        raise AssertionError(f"accepted {customer}")
