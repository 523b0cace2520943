"""What clients see when the writer or the reader dies, against real MariaDB replication.

The writer test prints its figures (requests, statuses, longest answer during the outage,
time to recover): `pytest -s tests/replication/test_failover.py`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from svc_book.app import create_app as create_book_app
from tests.builders import book
from tests.fixtures.replication import ReplicationPair
from tests.replication.helpers import (
    Client,
    book_settings,
    eventually,
    fallbacks,
    queries,
    routed,
)

pytestmark = [pytest.mark.mariadb, pytest.mark.slow, pytest.mark.xdist_group("replication")]

CONNECT_TIMEOUT_S = 1.0
SLACK_S = 1.0


@dataclass
class Answer:
    phase: str
    kind: str
    status: int
    seconds: float
    retry_after: str | None
    body: Any


async def _send(client: Client, phase: str, kind: str, method: str, path: str,
                body: Any = None) -> Answer:
    started = time.perf_counter()
    response = await client.request(method, path, json=body)
    payload = await response.json() if response.content_type == "application/json" else None
    return Answer(phase, kind, response.status, time.perf_counter() - started,
                  response.headers.get("Retry-After"), payload)


async def _round(client: Client, phase: str, n: int) -> list[Answer]:
    """One of each: point read, list, search, create, update, /ready."""
    return list(await asyncio.gather(
        _send(client, phase, "point", "GET", f"/books/seed-{n % 3}"),
        _send(client, phase, "list", "GET", "/books?limit=20"),
        _send(client, phase, "search", "GET", "/books?q=seed&limit=20"),
        _send(client, phase, "create", "POST", "/books", book(f"new-{phase}-{n}")),
        _send(client, phase, "update", "PUT", "/books/seed-0", book("seed-0", title=f"T{n}")),
        _send(client, phase, "ready", "GET", "/ready"),
    ))


def _summary(answers: list[Answer]) -> dict[str, Any]:
    by_phase: dict[str, Any] = {}
    for phase in dict.fromkeys(a.phase for a in answers):
        mine = [a for a in answers if a.phase == phase]
        by_phase[phase] = {
            "requests": len(mine),
            "statuses": {f"{k} {s}": n for (k, s), n in sorted(Counter(
                (a.kind, a.status) for a in mine).items())},
            "longest_s": round(max(a.seconds for a in mine), 3),
            "longest_s_by_kind": {kind: round(max(a.seconds for a in mine if a.kind == kind), 3)
                                  for kind in dict.fromkeys(a.kind for a in mine)},
        }
    return by_phase


async def test_writer_down_reads_from_reader_writes_503_then_recovers(
    aiohttp_client: Any, replicated_database: tuple[str, str], tmp_path: Path,
    replication_pair: ReplicationPair,
) -> None:
    settings = book_settings(replicated_database, tmp_path,
                              db_connect_timeout_s=CONNECT_TIMEOUT_S)
    client: Client = await aiohttp_client(create_book_app(settings))
    db = routed(client)
    for n in range(3):
        assert (await client.post("/books", json=book(f"seed-{n}", title="seed"))).status == 201
    replication_pair.wait_caught_up()
    await eventually(db.lists_on_reader)

    answers: list[Answer] = []
    for n in range(5):
        answers += await _round(client, "before", n)

    await asyncio.to_thread(replication_pair.kill_primary)
    killed = time.monotonic()
    n = 0
    while time.monotonic() - killed < 2.0:  # a 2 s outage, requests all along
        answers += await _round(client, "outage", n)
        n += 1
    outage = [a for a in answers if a.phase == "outage"]

    await asyncio.to_thread(replication_pair.start_primary)
    restarted = time.monotonic()
    recovered_s = None
    for n in range(200):  # bounded: at most ~20 s
        round_answers = await _round(client, "recovery", n)
        answers += round_answers
        if all(a.status in (200, 201) for a in round_answers if a.kind in ("create", "update")):
            recovered_s = time.monotonic() - restarted
            break
        await asyncio.sleep(0.1)
    after = []
    for n in range(5):
        after += await _round(client, "after", n)
    answers += after

    figures = {
        "connect_timeout_s": CONNECT_TIMEOUT_S,
        "health_interval_s": settings.db_health_interval_s,
        "outage_s": round(restarted - killed, 2),
        "writes_resumed_s_after_restart": None if recovered_s is None else round(recovered_s, 2),
        "phases": _summary(answers),
    }
    print("\nFAILOVER FIGURES " + json.dumps(figures, indent=1))

    assert all(a.status < 500 or a.status == 503 for a in answers), "no 500, ever"
    # During the outage: reads from the reader, writes 503 + Retry-After, all quickly.
    assert {a.status for a in outage if a.kind in ("point", "list", "search")} == {200}
    assert {a.status for a in outage if a.kind in ("create", "update")} == {503}
    # Bounded by the statement deadline (DB_CONNECT_TIMEOUT_S): a request caught mid-statement
    # by the crash waits at most that long (a read then also asks the reader). The slack is for
    # a busy 2-core machine; a hang would be many seconds.
    writes = [a for a in outage if a.kind in ("create", "update")]
    assert max(a.seconds for a in writes) < CONNECT_TIMEOUT_S + SLACK_S
    assert max(a.seconds for a in outage) < 2 * CONNECT_TIMEOUT_S + SLACK_S
    ready = [a for a in outage if a.kind == "ready"]
    assert {a.status for a in ready} == {200}, "ready while only the writer is down"
    for answer in ready:
        checks = answer.body["checks"]
        assert checks["database"] == "ok"
        assert checks["database_writer"].startswith("unavailable"), checks
        assert checks["database_reader"].startswith("serving every read"), checks
    assert all(a.retry_after == "1" for a in outage if a.status == 503)
    # Writes resume without a restart of the service.
    assert recovered_s is not None and recovered_s < 5
    assert {a.status for a in after if a.kind == "create"} == {201}
    assert {a.status for a in after if a.kind in ("point", "update", "ready")} == {200}
    # The 503s stored nothing, the 201s are there.
    listing = await (await client.get("/books?limit=100")).json()
    created = {a.body["ISBN"] for a in answers if a.kind == "create" and a.status == 201}
    stored = {item["ISBN"] for item in listing["items"]}
    assert created <= stored
    refused = {f"new-outage-{i}" for i in range(n)}
    assert not (refused & stored)


async def test_a_frozen_writer_holds_no_request_longer_than_the_connect_timeout(
    aiohttp_client: Any, replicated_database: tuple[str, str], tmp_path: Path,
    replication_pair: ReplicationPair,
) -> None:
    """SIGSTOP: connections are accepted, nothing answers (a network partition looks alike)."""
    settings = book_settings(replicated_database, tmp_path,
                              db_connect_timeout_s=CONNECT_TIMEOUT_S)
    client: Client = await aiohttp_client(create_book_app(settings))
    db = routed(client)
    for n in range(3):
        assert (await client.post("/books", json=book(f"seed-{n}", title="seed"))).status == 201
    replication_pair.wait_caught_up()
    await eventually(db.lists_on_reader)
    answers: list[Answer] = []
    replication_pair.primary.freeze()
    try:
        for n in range(4):
            answers += await _round(client, "frozen", n)
    finally:
        replication_pair.primary.thaw()
    print("\nFROZEN WRITER FIGURES " + json.dumps(_summary(answers), indent=1))
    # The first statements wait out the deadline and find the writer down; then none waits.
    writes_s = max(a.seconds for a in answers if a.kind in ("create", "update"))
    assert writes_s < CONNECT_TIMEOUT_S + SLACK_S
    assert max(a.seconds for a in answers) < 2 * CONNECT_TIMEOUT_S + SLACK_S
    assert {a.status for a in answers if a.kind in ("point", "list", "search", "ready")} == {200}
    writes = [a for a in answers if a.kind in ("create", "update")]
    assert {a.status for a in writes} == {503}
    assert all(a.retry_after == "1" for a in writes)
    later = [a for a in answers if a.kind == "create" and a.phase == "frozen"][1:]
    assert max(a.seconds for a in later) < 0.5, "known down: refused at once"
    await eventually(lambda: db.writer_up, timeout_s=5)
    assert (await client.post("/books", json=book("after-thaw"))).status == 201


async def test_reader_dying_costs_no_failed_request(
    aiohttp_client: Any, replicated_database: tuple[str, str], tmp_path: Path,
    replication_pair: ReplicationPair,
) -> None:
    client: Client = await aiohttp_client(
        create_book_app(book_settings(replicated_database, tmp_path))
    )
    db = routed(client)
    assert (await client.post("/books", json=book("seed-0"))).status == 201
    replication_pair.wait_caught_up()
    await eventually(db.lists_on_reader)
    reader_down = fallbacks("reader_down")
    on_reader = queries("reader", "list")

    async def lists(count: int) -> list[int]:
        statuses = []
        for _ in range(count):
            response = await client.get("/books?limit=20")
            assert len((await response.json())["items"]) == 1
            statuses.append(response.status)
        return statuses

    load = asyncio.create_task(lists(300))
    await eventually(lambda: queries("reader", "list") >= on_reader + 5)
    await asyncio.to_thread(replication_pair.kill_replica)
    statuses = await load
    assert set(statuses) == {200}
    assert queries("reader", "list") > on_reader  # some were served there before the kill
    assert fallbacks("reader_down") > reader_down  # and the rest went to the writer
    assert not db.reader_up
    await asyncio.to_thread(replication_pair.start_replica)
    await eventually(db.lists_on_reader)
    before = queries("reader", "list")
    assert (await client.get("/books")).status == 200
    assert queries("reader", "list") == before + 1


def test_a_wrong_read_url_stops_the_service_with_one_line(
    replicated_database: tuple[str, str], service_process: Any, tmp_path: Path
) -> None:
    writer, reader = replicated_database
    cases = {
        "bad password": reader.replace(":bookstore-app-pw@", ":wrong@"),
        "no such database": reader.rsplit("/", 1)[0] + "/bst_does_not_exist",
        "not a database URL": "postgres://reader.example.com/books",
    }
    for case, url in cases.items():
        service = service_process("svc_book", {
            "DATABASE_URL": writer, "DATABASE_READ_URL": url,
            "BREAKER_STATE_FILE": str(tmp_path / "breaker.json"),
        }, wait=False)
        assert service.proc is not None
        assert service.proc.wait(30) == 2, case
        lines = [line for line in service.log().splitlines() if line.strip()]
        errors = [line for line in lines if "DATABASE_READ_URL" in line]
        assert len(errors) == 1, (case, lines)
        assert errors[0].startswith("configuration error: DATABASE_READ_URL: "), errors
        assert "Traceback" not in service.log(), case
        assert "bookstore-app-pw" not in service.log()
