"""Lists and searches with and without a reader: what the writer saves.

    .venv/bin/python scripts/bench_reader.py [--books 2000] [--duration 10] [--connections 16]

Starts a MariaDB primary and a GTID replica of its own (tests/fixtures/replication.py), seeds
the Book service, then for each case (`GET /books?limit=20`, a search `q=...&limit=20`, a
`genre` filter) runs wrk against svc_book twice: with `DATABASE_URL` only, and with
`DATABASE_READ_URL` too. Prints req/s, latency and the CPU each mariadbd spent per request
(from /proc, so a busy shared machine moves req/s more than it moves CPU per request).
Needs wrk and the MariaDB server binaries (`make test` installs both); runs as root or not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.fixtures.replication import ReplicationPair, free_port  # noqa: E402

WORDS = ("river", "garden", "winter", "copper", "lantern", "harbor", "meadow", "falcon",
         "orchard", "signal", "thunder", "velvet", "marble", "canyon", "ember", "quartz")
GENRES = ("fiction", "non-fiction", "poetry", "history")
CASES = {
    "list": "/books?limit=20",
    "search": "/books?q=lantern&limit=20",
    "filter": "/books?genre=poetry&limit=20",
}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        raw = stat.read().decode(errors="replace")
    fields = raw[raw.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ok(url: str, timeout_s: float = 40.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready in {timeout_s} s")


def metric(port: int, name: str, labels: str) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}{{{re.escape(labels)}}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def start_service(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    full = {**os.environ, "PYTHONPATH": str(ROOT), "HOST": "127.0.0.1", "PORT": str(port),
            "ACCESS_LOG": "false", "LOG_FORMAT": "text", "WORKERS": "1",
            "RECOMMENDER_URL": "http://127.0.0.1:9",
            "BREAKER_STATE_FILE": str(log.with_suffix(".breaker.json")), **env}
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "svc_book"], env=full, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    wait_ok(f"http://127.0.0.1:{port}/ready")
    return proc


async def seed(port: int, count: int) -> None:
    async with aiohttp.ClientSession() as session:
        semaphore = asyncio.Semaphore(16)

        async def post(n: int) -> None:
            book = {
                "ISBN": f"978-{n:010d}",
                "title": f"The {WORDS[n % len(WORDS)]} of {WORDS[(n * 7) % len(WORDS)]}",
                "Author": f"Author {n % 97}",
                "description": " ".join(WORDS[(n + k) % len(WORDS)] for k in range(12)),
                "genre": GENRES[n % len(GENRES)],
                "price": 10 + n % 50,
                "quantity": n % 20,
            }
            async with semaphore, session.post(f"http://127.0.0.1:{port}/books", json=book) as r:
                if r.status not in (201, 422):
                    raise RuntimeError(f"seed POST answered {r.status}: {await r.text()}")

        await asyncio.gather(*(post(n) for n in range(count)))


def run_wrk(url: str, duration: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True, text=True, check=True, timeout=duration + 60,
    ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(p: str) -> float:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"requests": requests, "rps": rps, "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
            "p50_ms": percentile("50"), "p99_ms": percentile("99")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--books", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--base-port", type=int,
                        help="primary, replica and three services on this port and the next "
                             "four (default: free ports)")
    args = parser.parse_args()

    ports = iter(range(args.base_port, args.base_port + 5)) if args.base_port else None

    def next_port() -> int:
        return next(ports) if ports is not None else free_port()

    with ReplicationPair(primary_port=next_port(), replica_port=next_port()) as pair:
        writer_url, reader_url = pair.create_database("bst_bench_reader")
        logs = pair.base_dir
        port = next_port()
        base = {"DATABASE_URL": writer_url, "MIGRATE_ON_START": "true"}
        service = start_service(base, port, logs / "svc_book-seed.log")
        try:
            asyncio.run(seed(port, args.books))
        finally:
            service.terminate()
            service.wait(30)
        pair.wait_caught_up()
        rows: list[dict[str, Any]] = []
        primary_pid = pair.primary.proc.pid  # type: ignore[union-attr]
        replica_pid = pair.replica.proc.pid  # type: ignore[union-attr]
        for mode, env in (("writer only", base),
                          ("writer + reader", {**base, "DATABASE_READ_URL": reader_url})):
            port = next_port()
            service = start_service(env, port, logs / f"svc_book-{mode[:6].strip()}.log")
            try:
                if "DATABASE_READ_URL" in env:
                    deadline = time.monotonic() + 20
                    while metric(port, "db_pool_up", 'database="svc_book",pool="reader"') != 1.0:
                        if time.monotonic() > deadline:
                            raise TimeoutError("the reader never came up")
                        time.sleep(0.2)
                for case, path in CASES.items():
                    url = f"http://127.0.0.1:{port}{path}"
                    run_wrk(url, 2, args.connections)  # warm-up
                    before = (cpu_seconds(primary_pid), cpu_seconds(replica_pid),
                              cpu_seconds(service.pid))
                    result = run_wrk(url, args.duration, args.connections)
                    after = (cpu_seconds(primary_pid), cpu_seconds(replica_pid),
                             cpu_seconds(service.pid))
                    per_request = [1e6 * (a - b) / max(1, result["requests"])
                                   for a, b in zip(after, before, strict=True)]
                    rows.append({"case": case, "mode": mode, **result,
                                 "writer_us_per_req": round(per_request[0], 1),
                                 "reader_us_per_req": round(per_request[1], 1),
                                 "service_us_per_req": round(per_request[2], 1)})
            finally:
                service.terminate()
                service.wait(30)

    header = (f"{'case':7} {'mode':16} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non2xx':>6} "
              f"{'writer µs/req':>13} {'reader µs/req':>13} {'svc µs/req':>10}")
    print(f"\n{args.books} books, wrk -t1 -c{args.connections} -d{args.duration}s, "
          "svc_book WORKERS=1")
    print(header)
    for row in rows:
        print(f"{row['case']:7} {row['mode']:16} {row['rps']:8.0f} {row['p50_ms']:7.2f} "
              f"{row['p99_ms']:7.2f} {row['non_2xx']:6d} {row['writer_us_per_req']:13.1f} "
              f"{row['reader_us_per_req']:13.1f} {row['service_us_per_req']:10.1f}")
    for case in CASES:
        alone = next(r for r in rows if r["case"] == case and r["mode"] == "writer only")
        routed = next(r for r in rows if r["case"] == case and r["mode"] == "writer + reader")
        saved = alone["writer_us_per_req"] - routed["writer_us_per_req"]
        share = 100 * saved / alone["writer_us_per_req"] if alone["writer_us_per_req"] else 0.0
        print(f"{case}: writer CPU saved {saved:.1f} µs per request ({share:.0f}%)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
