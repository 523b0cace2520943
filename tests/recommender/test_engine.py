"""The reference recommendation engine over HTTP."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from recommender.app import create_app
from recommender.catalog import Catalog, Title, normalize_isbn
from recommender.settings import Settings

COURSE_ISBNS = [
    "978-0-321-55268-6",
    "978-0321815736",
    "9780133065107",
    "978-0395489321",
    "978-0544174221",
]
SEED_BOOKS = Path(__file__).resolve().parents[2] / "scripts" / "seed" / "books.json"


@pytest.fixture
async def engine(aiohttp_client):
    return await aiohttp_client(create_app(Settings(access_log=False)))


@pytest.mark.parametrize("isbn", COURSE_ISBNS)
async def test_course_isbns_have_recommendations(engine, isbn):
    response = await engine.get(f"/recommended-titles/isbn/{isbn}")
    assert response.status == 200
    assert response.content_type == "application/json"
    items = await response.json()
    assert len(items) >= 3
    for item in items:
        assert set(item) == {"isbn", "title", "authors", "publisher"}
        assert all(isinstance(v, str) and v for v in item.values())
        assert normalize_isbn(item["isbn"]) != normalize_isbn(isbn)
    # Hyphens do not matter.
    again = await engine.get(f"/recommended-titles/isbn/{normalize_isbn(isbn)}")
    assert await again.json() == items


async def test_course_books_get_related_titles(engine):
    response = await engine.get("/recommended-titles/isbn/978-0544174221")  # The Hobbit
    titles = {item["title"] for item in await response.json()}
    assert "The Lord of the Rings" in titles


async def test_unknown_isbn_with_even_last_digit_gets_204(engine):
    response = await engine.get("/recommended-titles/isbn/9780000000002")
    assert response.status == 204
    assert await response.read() == b""


async def test_unknown_isbn_with_odd_last_digit_gets_three_stable_titles(engine):
    first = await (await engine.get("/recommended-titles/isbn/222-1114567891")).json()
    second = await (await engine.get("/recommended-titles/isbn/2221114567891")).json()
    other = await (await engine.get("/recommended-titles/isbn/9780000000003")).json()
    assert len(first) == 3 and first == second
    assert other != first


async def test_demo_catalog_answers_follow_the_rule(engine):
    books = json.loads(SEED_BOOKS.read_text())
    for book in books[5:40]:
        response = await engine.get(f"/recommended-titles/isbn/{book['ISBN']}")
        last = normalize_isbn(book["ISBN"])[-1]
        expected = 204 if last.isdigit() and int(last) % 2 == 0 else 200
        assert response.status == expected, book["ISBN"]


async def test_isbn_with_reserved_characters_is_served(engine):
    response = await engine.get("/recommended-titles/isbn/abc%3F%231")
    assert response.status == 200


async def test_delay_can_be_read_and_changed_at_run_time(engine):
    assert await (await engine.get("/delay")).json() == {"ms": 0}
    response = await engine.put("/delay", json={"ms": 250})
    assert response.status == 200
    assert await response.json() == {"ms": 250}
    assert await (await engine.get("/delay")).json() == {"ms": 250}


async def test_the_delay_is_waited_before_answering(aiohttp_client):
    waited: list[float] = []

    async def record(seconds: float) -> None:
        waited.append(seconds)

    engine = await aiohttp_client(create_app(Settings(access_log=False), sleep=record))
    await engine.put("/delay", json={"ms": 250})
    response = await engine.get("/recommended-titles/isbn/978-0321815736")
    assert response.status == 200
    assert waited == [0.25]
    await engine.put("/delay", json={"ms": 0})
    await engine.get("/recommended-titles/isbn/978-0321815736")
    assert waited == [0.25]  # no delay: no wait at all


async def test_initial_delay_comes_from_settings(aiohttp_client):
    client = await aiohttp_client(create_app(Settings(recommender_delay_ms=1234, access_log=False)))
    assert await (await client.get("/delay")).json() == {"ms": 1234}


@pytest.mark.parametrize(
    "body",
    [
        {"ms": -1},
        {"ms": 60001},
        {"ms": "5"},
        {"ms": True},
        {"ms": 1.5},
        {"ms": None},
        {},
        [],
        {"delay": 5},
    ],
)
async def test_bad_delay_is_a_400_with_a_json_message(engine, body):
    response = await engine.put("/delay", json=body)
    assert response.status == 400
    assert "message" in await response.json()
    assert await (await engine.get("/delay")).json() == {"ms": 0}


async def test_malformed_delay_json_is_a_400(engine):
    response = await engine.put("/delay", data=b"{ms: 5",
                                headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "message" in await response.json()


async def test_delay_limits_are_inclusive(engine):
    for ms in (0, 60000):
        response = await engine.put("/delay", json={"ms": ms})
        assert response.status == 200


async def test_status_is_plain_ok(engine):
    response = await engine.get("/status")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == "OK"


def test_catalog_rejects_related_titles_it_does_not_have():
    title = Title("111", "A", "B", "C")
    with pytest.raises(ValueError):
        Catalog([title], {"222": ["333"]})


def test_settings_reject_a_delay_out_of_range(monkeypatch):
    monkeypatch.setenv("RECOMMENDER_DELAY_MS", "60001")
    with pytest.raises(ValueError):
        Settings()


def test_python_dash_m_recommender_serves(service_process):
    engine = service_process("recommender", {"RECOMMENDER_DELAY_MS": "5"})
    with urllib.request.urlopen(f"{engine.url}/recommended-titles/isbn/978-0321815736") as r:
        assert r.status == 200
        assert len(json.loads(r.read())) >= 3
    with urllib.request.urlopen(f"{engine.url}/delay") as r:
        assert json.loads(r.read()) == {"ms": 5}
