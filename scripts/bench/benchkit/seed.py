"""Seed data, POSTed straight to the services (not through the BFFs)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

CONCURRENCY = 8
GENRES = ("non-fiction", "fiction", "science", "history")


def book(index: int) -> dict[str, Any]:
    # Every other book is non-fiction, so mobile shaping has work to do.
    return {
        "ISBN": f"978-BENCH-{index:05d}",
        "title": f"Benchmark Book {index}",
        "Author": f"Author {index % 37}",
        "description": f"Seeded by the benchmark harness, book number {index}.",
        "genre": GENRES[index % len(GENRES)] if index % 2 else "non-fiction",
        "price": round(5 + (index % 900) / 10, 2),
        "quantity": index % 120,
    }


def customer(index: int) -> dict[str, Any]:
    return {
        "userId": f"seed{index}@bench.example.com",
        "name": f"Seed Customer {index}",
        "phone": f"+1412555{index:04d}",
        "address": f"{index} Forbes Ave",
        "address2": f"Apt {index % 40}",
        "city": "Pittsburgh",
        "state": "PA",
        "zipcode": "15213",
    }


async def _post_all(url: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def post(body: dict[str, Any]) -> dict[str, Any]:
            async with semaphore, session.post(url, json=body) as response:
                if response.status != 201:
                    text = await response.text()
                    raise RuntimeError(f"seeding {url}: HTTP {response.status} {text[:200]}")
                created: dict[str, Any] = await response.json()
                return created

        return await asyncio.gather(*(post(body) for body in bodies))


async def seed_books(base_url: str, count: int) -> list[str]:
    created = await _post_all(f"{base_url}/books", [book(i) for i in range(count)])
    return [str(item["ISBN"]) for item in created]


async def seed_customers(base_url: str, count: int) -> list[int]:
    created = await _post_all(f"{base_url}/customers", [customer(i) for i in range(count)])
    return [int(item["id"]) for item in created]
