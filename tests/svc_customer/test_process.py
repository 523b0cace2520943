"""The real process: starts on an empty SQLite file, migrates MySQL with one command, and never
waits for Kafka."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pymysql
import pytest

from libcommon.db import parse_database_url
from tests.builders import customer
from tests.fixtures.procs import ROOT, ServiceProcess


@pytest.fixture
def blackhole_broker() -> Iterator[str]:
    """A port that accepts TCP connections and never answers (a hung broker)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


async def test_runs_on_an_empty_sqlite_file_and_never_waits_for_kafka(
    service_process: Callable[..., ServiceProcess], tmp_path: Path, blackhole_broker: str
) -> None:
    db_file = tmp_path / "fresh" / "customers.db"
    service = service_process("svc_customer", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{db_file}",
        "KAFKA_BOOTSTRAP_SERVERS": blackhole_broker,
    })
    async with aiohttp.ClientSession(service.url) as http:
        started = time.monotonic()
        responses = [await http.post("/customers", json=customer(f"u{i}@x.io")) for i in range(5)]
        elapsed = time.monotonic() - started
        assert [r.status for r in responses] == [201] * 5
        assert elapsed < 2.0, f"POSTs took {elapsed:.1f}s: they must not wait for the broker"
        created = await responses[0].json()
        got = await http.get(f"/customers/{created['id']}")
        assert await got.json() == created
        ready = await http.get("/ready")
        assert ready.status == 200
        # A broker outage delays events only: the service stays ready for writes.
        assert (await ready.json())["checks"]["database"] == "ok"
    assert db_file.exists()


@pytest.mark.slow  # starts a process
def test_mysql_migrates_with_one_command(mysql_database: Callable[[], str]) -> None:
    url = mysql_database()
    for _ in range(2):  # a second run is a no-op
        result = subprocess.run(
            [sys.executable, "-m", "libcommon.migrate", "svc_customer", "--url", url],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )
        assert result.returncode == 0, result.stderr
    parsed = parse_database_url(url)
    conn = pymysql.connect(host=parsed.host, port=parsed.port, user=parsed.user,
                           password=parsed.password, database=parsed.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            assert {row[0] for row in cur.fetchall()} >= {"customers", "outbox"}
            cur.execute("SHOW INDEX FROM customers WHERE Non_unique = 0")
            assert {row[4] for row in cur.fetchall()} == {"id", "user_id_key"}
            cur.execute("SHOW INDEX FROM outbox")
            indexes = {(row[2], row[4]) for row in cur.fetchall()}
            assert {("uq_outbox_event_id", "event_id"), ("ix_outbox_sent_at_ms_id", "sent_at_ms"),
                    ("ix_outbox_sent_at_ms_id", "id")} <= indexes
            cur.execute("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
                        " DATABASE() AND TABLE_NAME = 'outbox' AND COLUMN_NAME = 'payload'")
            assert cur.fetchone() == ("longblob",)
    finally:
        conn.close()

