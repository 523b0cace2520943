"""`python scripts/bench_scaling.py`: Book service latency by catalog size, with query plans.

For each size (default 1k, 100k, 1M books) a MariaDB database is filled by bulk inserts
(multi-row INSERTs with the FULLTEXT indexes dropped, rebuilt after: a million rows in minutes,
not hours) and a Book service started on it. Each case (point GET, first and deep list pages,
common-term and rare-term search, the author filter) is then measured at every size back to
back, so a busy machine weighs on every size alike: wrk over one connection (latency, not
throughput), and the server time of the statements the repository itself runs for it (run on
a plain connection, best of 5), each EXPLAINed; a search case whose plan scans the whole table
fails. At the end: p50 per size, the ratio of the largest size to the smallest (target: within
3x at 1M), SQL time per size and the plans. Long: see docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from devkit.processes import ProcessGroup

from benchkit import stack, wrk

RARE_TERM = "quixotic"  # in RARE_COUNT books whatever the size
RARE_COUNT = 5
COMMON_TERM = "library"  # in one book of three
AUTHORS = 5000
VOCABULARY_SIZE = 20_000
BATCH = 2000
FULLTEXT_INDEXES = (("ft_books_search", "search_title, search_body"),
                    ("ft_books_title", "search_title"))


def _word(index: int) -> str:
    """A pronounceable pseudo-word per index (3+ letters, never a stop word)."""
    consonants, vowels = "bcdfgklmnprstvz", "aeiou"
    out: list[str] = []
    value = index + 7
    while value or len(out) < 3:
        out.append(consonants[value % 15] + vowels[(value // 15) % 5])
        value //= 75
    return "".join(out)


VOCABULARY = [_word(i) for i in range(VOCABULARY_SIZE)]


def _pick(rng: random.Random) -> str:
    # Log-uniform: a few words are very common, most are rare (like a real catalog).
    return VOCABULARY[min(VOCABULARY_SIZE - 1, int(VOCABULARY_SIZE ** rng.random()) - 1)]


def isbn_of(index: int) -> str:
    return f"978-{index:010d}"


def book_row(index: int, size_hint: int) -> tuple[Any, ...]:
    """One row of the books table as the service writes it (columns, doc, search text)."""
    from libcommon.conditional import resource_tag
    from svc_book.search import index_text

    rng = random.Random(index)
    title = f"{_pick(rng).capitalize()} {_pick(rng)} {index}"
    author = f"Author {index % AUTHORS}"
    words = [_pick(rng) for _ in range(12)]
    if index % 3 == 0:
        words.append(COMMON_TERM)
    if index % max(1, size_hint // RARE_COUNT) == 1 and index < size_hint:
        words.append(RARE_TERM)
    description = " ".join(words)
    genre = ("fiction", "science", "history", "non-fiction")[index % 4]
    price = Decimal(5 + index % 900) / 10
    quantity = index % 120
    doc = orjson.dumps({
        "ISBN": isbn_of(index), "title": title, "Author": author, "description": description,
        "genre": genre, "price": int(price) if price == price.to_integral_value() else float(price),
        "quantity": quantity,
    })
    return (isbn_of(index), title, author, description, genre, str(price), quantity, doc,
            resource_tag(doc), index_text(title), index_text(author, description))


_INSERT = ("INSERT INTO books (isbn, title, author, description, genre, price, quantity, doc, "
           "etag, search_title, search_body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")


def grow(database: str, start: int, end: int, say: Any) -> float:
    """Insert books start..end-1 (FULLTEXT indexes dropped and rebuilt); seconds taken."""
    started = time.monotonic()
    conn = stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f"USE `{database}`")
            cur.execute("SELECT index_name FROM information_schema.statistics WHERE "
                        "table_schema = %s AND table_name = 'books' AND index_type = 'FULLTEXT'",
                        (database,))
            for name in dict.fromkeys(row[0] for row in cur.fetchall()):
                cur.execute(f"ALTER TABLE books DROP INDEX `{name}`")
            cur.execute("SET SESSION unique_checks = 0")
            done = start
            for batch_start in range(start, end, BATCH):
                rows = [book_row(i, end) for i in range(batch_start, min(end, batch_start + BATCH))]
                cur.executemany(_INSERT, rows)
                done += len(rows)
                if (done - start) % (BATCH * 50) == 0:
                    say(f"    {done:,} rows ({time.monotonic() - started:.0f}s)")
            loaded = time.monotonic() - started
            for name, columns in FULLTEXT_INDEXES:
                cur.execute(f"ALTER TABLE books ADD FULLTEXT INDEX `{name}` ({columns})")
            cur.execute("ANALYZE TABLE books")
            say(f"    inserted {end - start:,} rows in {loaded:.0f}s, FULLTEXT rebuilt in "
                f"{time.monotonic() - started - loaded:.0f}s")
    finally:
        conn.close()
    return time.monotonic() - started


# ---------------------------------------------------------------- the cases


@dataclass
class ScaleCase:
    name: str
    paths: list[str]
    search: bool = False  # a full scan fails the case


def _cursor(isbn: str) -> str:
    return base64.urlsafe_b64encode(isbn.encode()).decode().rstrip("=")


def cases_for(size: int) -> list[ScaleCase]:
    rng = random.Random(size)
    return [
        ScaleCase("point-get", [f"/books/{isbn_of(rng.randrange(size))}" for _ in range(200)]),
        ScaleCase("list-first-page", ["/books?limit=20"]),
        ScaleCase("list-deep-page", [f"/books?limit=20&cursor={_cursor(isbn_of(int(size * f)))}"
                                     for f in (0.5, 0.7, 0.9, 0.97)]),
        ScaleCase("search-common", [f"/books?q={COMMON_TERM}&limit=20"], search=True),
        ScaleCase("search-rare", [f"/books?q={RARE_TERM}&limit=20"], search=True),
        ScaleCase("search-common-prefix", [f"/books?q={COMMON_TERM[:4]}&limit=20"], search=True),
        ScaleCase("author-filter", [f"/books?author=Author%20{rng.randrange(AUTHORS)}&limit=20"
                                    for _ in range(20)]),
    ]


class _MeasuringDatabase:
    """Stands in for the service's database adapter: runs the repository's statements on a
    plain pymysql connection, recording each with the time it took."""

    dialect = "mysql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []
        self.seconds = 0.0

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.statements.append((sql, tuple(params)))
        started = time.perf_counter()
        with self._conn.cursor() as cur:
            cur.execute(sql, tuple(params))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        self.seconds += time.perf_counter() - started
        return rows

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = await self.fetch_all(sql, params)
        return rows[0] if rows else None


def run_case_sql(case: ScaleCase, size: int, database: str,
                 repeats: int = 5) -> tuple[list[tuple[str, tuple[Any, ...]]], float]:
    """The statements the Book service runs for the case's first path (executed for real),
    and their server time in ms (best of `repeats`)."""
    from svc_book.repository import BookRepository
    from svc_book.search import SearchQuery

    conn = stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f"USE `{database}`")
        best = float("inf")
        statements: list[tuple[str, tuple[Any, ...]]] = []
        for _ in range(repeats):
            db = _MeasuringDatabase(conn)
            repo = BookRepository(db)  # type: ignore[arg-type]
            path = case.paths[0]
            if case.name == "point-get":
                asyncio.run(repo.get_json(path.rsplit("/", 1)[1]))
            elif case.name.startswith("search"):
                query = SearchQuery.parse(path.split("q=", 1)[1].split("&", 1)[0])
                assert query is not None
                asyncio.run(repo.search_json(query, limit=20))
            elif case.name == "author-filter":
                author = path.split("author=", 1)[1].split("&", 1)[0].replace("%20", " ")
                asyncio.run(repo.list_json(limit=20, author=author))
            elif case.name == "list-deep-page":
                asyncio.run(repo.list_json(limit=20, after_isbn=isbn_of(int(size * 0.5))))
            else:
                asyncio.run(repo.list_json(limit=20))
            best = min(best, db.seconds)
            statements = db.statements
        return statements, round(best * 1000, 2)
    finally:
        conn.close()


def explain(database: str, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    conn = stack.admin_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(f"USE `{database}`")
            cur.execute("EXPLAIN " + sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


def plan_verdict(plans: list[list[dict[str, Any]]], search: bool) -> tuple[bool, str]:
    """(ok, summary of every statement's plan). A full scan of `books` (`type` ALL) fails a
    search case; a derived table (the bounded window) may be read whole."""
    statements = []
    full_scan = False
    for plan in plans:
        parts = []
        for row in plan:
            kind = row.get("type") or "-"
            parts.append(f"{row.get('table')}:{kind}/{row.get('key') or '-'}")
            if kind == "ALL" and row.get("table") == "books":
                full_scan = True
        statements.append(",".join(parts))
    summary = " | ".join(statements)
    if full_scan:
        return (not search), "FULL SCAN " + summary
    return True, summary


# ---------------------------------------------------------------- the run


@dataclass
class ScaleResult:
    size: int
    case: str
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    requests: int = 0
    plan: str = ""
    plan_ok: bool = True
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def measure(base_url: str, case: ScaleCase, out: Path, duration_s: int,
            wrk_binary: str) -> wrk.WrkResult:
    paths = out / f"paths-{case.name}.txt"
    paths.write_text("".join(p + "\n" for p in case.paths))
    script = out / "get.lua"
    if not script.exists():
        script.write_text(wrk.compose_script(["report.lua", "get_paths.lua"]))
    spec = wrk.WrkRun(url=base_url, connections=1, duration_s=duration_s, script=script,
                      args={"paths": str(paths)})
    wrk.run(spec, wrk_binary)  # warm-up: buffer pool and plan cache
    return wrk.run(spec, wrk_binary)


def format_table(results: list[ScaleResult], sizes: list[int]) -> str:
    by = {(r.size, r.case): r for r in results}
    names = list(dict.fromkeys(r.case for r in results))
    headers = ["case", *[f"p50 ms @{s:,}" for s in sizes], f"x @{sizes[-1]:,}/{sizes[0]:,}",
               *[f"sql ms @{s:,}" for s in sizes], "plan at the largest size"]
    rows = [headers]
    for name in names:
        row = [name]
        for size in sizes:
            r = by.get((size, name))
            row.append("-" if r is None or r.error else f"{r.p50_ms:.2f}")
        first, last = by.get((sizes[0], name)), by.get((sizes[-1], name))
        ratio = (f"{last.p50_ms / first.p50_ms:.1f}x" if first and last and first.p50_ms
                 and not first.error and not last.error else "-")
        row.append(ratio)
        for size in sizes:
            r = by.get((size, name))
            row.append(str(r.extra.get("sql_ms", "-")) if r is not None else "-")
        if last is None:
            row.append("-")
        else:
            verdict = "ok  " if last.plan_ok and not last.error else "FAIL "
            row.append(verdict + (last.error or last.plan))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) if i == 0 else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(r[:-1], widths, strict=True))),
                                r[-1]]) for r in rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/bench_scaling.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="catalog sizes, ascending (comma list)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per case and size")
    parser.add_argument("--port", type=int, default=13500, help="the Book service's port")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep-db", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(",") if s.strip())
    wrk_binary = wrk.find_wrk()
    if wrk_binary is None:
        print(wrk.MISSING_WRK, file=sys.stderr)
        return 2
    sys.path.insert(0, str(stack.ROOT))
    out: Path = args.out or stack.ROOT / "bench-results" / time.strftime("%Y%m%d-%H%M%S-scaling")
    out.mkdir(parents=True, exist_ok=True)
    # One database and one Book service per size, all up together: each case is measured at
    # every size back to back, so a busy machine weighs on every size alike.
    databases = {size: f"bench_scale_{args.port}_{size}" for size in sizes}

    def say(text: str) -> None:
        print(text, flush=True)

    say(f"results: {out}; sizes {sizes}; databases {', '.join(databases.values())}")
    stack.create_databases(list(databases.values()))
    results: list[ScaleResult] = []
    seeding: dict[int, float] = {}
    procs = ProcessGroup()
    urls: dict[int, str] = {}
    try:
        for index, size in enumerate(sizes):
            database = databases[size]
            stack.migrate("svc_book", stack.database_url(database), out / "migrate.log")
            say(f"seeding {size:,} books into {database}")
            seeding[size] = round(grow(database, 0, size, say), 1)
            env = {"DATABASE_URL": stack.database_url(database), "MIGRATE_ON_START": "false",
                   "ACCESS_LOG": "false", "RECOMMENDER_URL": "http://127.0.0.1:9",
                   "BREAKER_STATE_FILE": str(out / f"breaker-{size}.json")}
            proc = procs.add(stack.service_proc("svc_book", args.port + index, env,
                                                out / f"svc_book-{size}.log"))
            proc.name = f"svc_book-{size}"
            proc.start()
            proc.wait_http("/ready", 60)
            urls[size] = proc.url
        for name in [case.name for case in cases_for(sizes[0])]:
            for size in sizes:
                case = next(c for c in cases_for(size) if c.name == name)
                database = databases[size]
                result = ScaleResult(size, case.name)
                try:
                    statements, result.extra["sql_ms"] = run_case_sql(case, size, database)
                    result.plan_ok, result.plan = plan_verdict(
                        [explain(database, sql, params) for sql, params in statements],
                        case.search)
                    measured = measure(urls[size], case, out, args.duration, wrk_binary)
                    result.p50_ms, result.p99_ms = measured.p50_ms, measured.p99_ms
                    result.requests = measured.requests
                    if measured.non_2xx:
                        result.error = f"{measured.non_2xx} non-2xx answers"
                except (wrk.WrkError, OSError, RuntimeError) as exc:
                    result.error = str(exc).splitlines()[0][:200]
                results.append(result)
                say(f"  {size:>9,} {case.name:<22} p50 {result.p50_ms:8.2f} ms  p99 "
                    f"{result.p99_ms:8.2f} ms  sql {result.extra.get('sql_ms', '-')} ms  "
                    f"{'ok' if result.plan_ok else 'FAIL'} {result.error or result.plan}")
    except KeyboardInterrupt:
        say("interrupted; reporting what was measured")
    finally:
        procs.stop_all()
        if not args.keep_db:
            stack.drop_databases(list(databases.values()))
    measured_sizes = [s for s in sizes if any(r.size == s for r in results)]
    if not measured_sizes:
        return 2
    table = format_table(results, measured_sizes)
    say("\n" + table)
    say(f"\nseeding seconds per size: {seeding}")
    (out / "scaling.txt").write_text(table + "\n", encoding="utf-8")
    (out / "scaling.json").write_text(json.dumps(
        {"sizes": measured_sizes, "seeding_s": seeding,
         "results": [asdict(r) for r in results]}, indent=2) + "\n", encoding="utf-8")
    failed = [r for r in results if not r.plan_ok or r.error]
    say(f"written: {out / 'scaling.txt'}, {out / 'scaling.json'}")
    return 1 if failed else 0
