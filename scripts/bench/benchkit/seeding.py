"""Seed the running services and write the path lists the GET cases read."""

from __future__ import annotations

import asyncio
import time

from benchkit import seed
from benchkit.journal import Journal
from benchkit.plan import BenchPlan
from benchkit.services import Services


def seed_services(plan: BenchPlan, services: Services, journal: Journal) -> None:
    books = [str(seed.book(i)["ISBN"]) for i in range(max(1, plan.seed_books))]
    book_service = services.get("svc_book")
    if book_service is not None:
        started = time.monotonic()
        books = asyncio.run(seed.seed_books(book_service.url, plan.seed_books))
        journal.say(f"  seeded {len(books)} books ({time.monotonic() - started:.1f}s)")
    plan.book_paths.write_text("".join(f"/books/{isbn}\n" for isbn in books))
    customer_service = services.get("svc_customer")
    if customer_service is not None:
        started = time.monotonic()
        ids = asyncio.run(seed.seed_customers(customer_service.url, plan.seed_customers))
        plan.customer_paths.write_text("".join(f"/customers/{i}\n" for i in ids))
        journal.say(f"  seeded {len(ids)} customers ({time.monotonic() - started:.1f}s)")
