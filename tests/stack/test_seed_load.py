"""scripts/seed_load.py against real svc_book and svc_customer processes on SQLite."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
LOADER = ROOT / "scripts" / "seed_load.py"
SEED = ROOT / "scripts" / "seed"
SUMMARY = re.compile(r"^(\w+): (\d+) inserted, (\d+) skipped \(already existed\), "
                     r"(\d+) rejected, (\d+) failed", re.MULTILINE)


def _load(*args: str) -> tuple[int, dict[str, tuple[int, int, int, int]], str]:
    result = subprocess.run([sys.executable, str(LOADER), *args], capture_output=True,
                            text=True, timeout=60, cwd=ROOT)
    counts = {m[1]: (int(m[2]), int(m[3]), int(m[4]), int(m[5]))
              for m in SUMMARY.finditer(result.stdout)}
    return result.returncode, counts, result.stdout + result.stderr


def test_first_run_inserts_second_run_skips_invalid_rows_are_rejected(service_process, tmp_path):
    books = service_process("svc_book", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/books.db", "ACCESS_LOG": "false"})
    customers = service_process("svc_customer", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/customers.db", "ACCESS_LOG": "false",
        # No broker: the outbox keeps the events; creating customers must still work.
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"})
    urls = ("--books-url", books.url, "--customers-url", customers.url)
    n_books = len(json.loads((SEED / "books.json").read_text()))
    n_customers = len(json.loads((SEED / "customers.json").read_text()))

    code, counts, output = _load(*urls)
    assert code == 0, output
    assert counts == {"books": (n_books, 0, 0, 0), "customers": (n_customers, 0, 0, 0)}, output

    code, counts, output = _load(*urls, "--concurrency", "4")
    assert code == 0, output
    assert counts == {"books": (0, n_books, 0, 0), "customers": (0, n_customers, 0, 0)}, output

    rejects = json.loads((SEED / "rejects.json").read_text())
    (tmp_path / "bad_books.json").write_text(json.dumps(rejects["books"]))
    (tmp_path / "bad_customers.json").write_text(json.dumps(rejects["customers"]))
    code, counts, output = _load(*urls, "--books", str(tmp_path / "bad_books.json"),
                                 "--customers", str(tmp_path / "bad_customers.json"))
    assert code == 0, output
    assert counts == {"books": (0, 0, len(rejects["books"]), 0),
                      "customers": (0, 0, len(rejects["customers"]), 0)}, output
    assert "seed-reject-1: 400" in output


@pytest.mark.slow  # starts a process
def test_transport_errors_fail_the_run(tmp_path):
    books = json.loads((SEED / "books.json").read_text())[:3]
    (tmp_path / "books.json").write_text(json.dumps(books))
    code, counts, output = _load("--books-url", f"http://127.0.0.1:{free_port()}",
                                 "--books", str(tmp_path / "books.json"))
    assert code == 1, output
    assert counts == {"books": (0, 0, 0, 3)}, output
    assert "ClientConnectorError" in output
