"""The benchmark cases: what each one requests, from which process, with which script."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["wrk-get", "wrk-post", "ceiling"]

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0"
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    kind: Kind
    # Process the load goes to ("floor", "svc_book", "bff_book", ...; "mariadb" for the ceiling).
    target: str
    # Services that must be running (besides MariaDB) for the case to make sense.
    needs: tuple[str, ...]
    # GET cases: which seeded id list the paths come from ("books" or "customers").
    paths: str = ""
    # POST cases: the path and the table whose rows must match the 201s.
    post_path: str = ""
    table: str = ""
    user_agent: str = ""
    bff: bool = False
    # Whether the case depends on the services' WORKERS (the floor and the ceiling do not).
    uses_workers: bool = True

    def lua_pieces(self) -> list[str]:
        if self.kind == "wrk-get":
            return ["report.lua", "get_paths.lua"]
        if self.kind == "wrk-post":
            piece = "post_book.lua" if self.table == "books" else "post_customer.lua"
            return ["report.lua", "window.lua", piece]
        return []


CASES: tuple[Case, ...] = (
    Case("floor", "trivial aiohttp handler (floor)", "wrk-get", "floor", ("floor",),
         paths="books", uses_workers=False),
    # The same handler with aiohttp's default per-request access log: a reference point only
    # (targets use the log-free floor); the services do log every request, batched.
    Case("floor-logged", "trivial aiohttp handler + aiohttp access log", "wrk-get",
         "floor_logged", ("floor_logged",), paths="books", uses_workers=False),
    Case("book-direct", "GET /books/{ISBN} direct", "wrk-get", "svc_book", ("svc_book",),
         paths="books"),
    Case("traced-book-direct", "GET /books/{ISBN} direct, tracing on", "wrk-get",
         "svc_book_traced", ("svc_book_traced", "otlp_sink"), paths="books"),
    Case("book-bff-desktop", "GET /books/{ISBN} via BFF, desktop", "wrk-get", "bff_book",
         ("svc_book", "bff_book"), paths="books", user_agent=DESKTOP_UA, bff=True),
    # The same request through twins of svc_book and bff_book started with tracing on
    # (OTEL_EXPORTER_OTLP_ENDPOINT = the harness's OTLP sink), measured right after the
    # untraced case in the same run: the price of tracing.
    Case("traced-book-bff", "GET /books/{ISBN} via BFF, desktop, tracing on", "wrk-get",
         "bff_book_traced", ("svc_book_traced", "bff_book_traced", "otlp_sink"),
         paths="books", user_agent=DESKTOP_UA, bff=True),
    Case("book-bff-mobile", "GET /books/{ISBN} via BFF, mobile", "wrk-get", "bff_book",
         ("svc_book", "bff_book"), paths="books", user_agent=MOBILE_UA, bff=True),
    Case("customer-direct", "GET /customers/{id} direct", "wrk-get", "svc_customer",
         ("svc_customer",), paths="customers"),
    Case("customer-bff", "GET /customers/{id} via BFF", "wrk-get", "bff_customer",
         ("svc_customer", "bff_customer"), paths="customers", user_agent=DESKTOP_UA, bff=True),
    Case("book-post-bff", "POST /books via BFF", "wrk-post", "bff_book",
         ("svc_book", "bff_book"), post_path="/books", table="books", user_agent=DESKTOP_UA,
         bff=True),
    Case("customer-post-bff", "POST /customers via BFF", "wrk-post", "bff_customer",
         ("svc_customer", "bff_customer"), post_path="/customers", table="customers",
         user_agent=DESKTOP_UA, bff=True),
    Case("commit-ceiling", "MariaDB 2-insert transactions (aiomysql)", "ceiling", "mariadb", (),
         uses_workers=False),
)

CASE_NAMES = tuple(case.name for case in CASES)
BY_NAME = {case.name: case for case in CASES}


def select_cases(spec: str | None) -> list[Case]:
    """`None`/"all" → every case; else a comma list of names (order kept as in CASES).

    Names may end in `*` to select a prefix, e.g. `book-*`.
    """
    if spec is None or spec.strip() in ("", "all"):
        return list(CASES)
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    chosen: set[str] = set()
    for name in wanted:
        if name.endswith("*"):
            matches = [c for c in CASE_NAMES if c.startswith(name[:-1])]
        else:
            matches = [name] if name in BY_NAME else []
        if not matches:
            raise ValueError(f"unknown case {name!r}; known: {', '.join(CASE_NAMES)}")
        chosen.update(matches)
    return [case for case in CASES if case.name in chosen]


def services_needed(cases: Iterable[Case]) -> list[str]:
    """Services to start, in start order (upstreams before BFFs)."""
    order = ["floor", "floor_logged", "otlp_sink", "svc_book", "svc_book_traced",
             "svc_customer", "bff_book", "bff_book_traced", "bff_customer"]
    needed = {name for case in cases for name in case.needs}
    if "svc_book_traced" in needed:
        needed.add("svc_book")  # seeds the database the twin reads
    return [name for name in order if name in needed]


def parse_connections(spec: str) -> list[int]:
    values = [int(part) for part in spec.split(",") if part.strip()]
    if not values or any(v < 1 for v in values):
        raise ValueError("--connections needs positive integers, e.g. 1,16,64")
    return values


def parse_workers(spec: str) -> list[int]:
    values = [int(part) for part in spec.split(",") if part.strip()]
    if not values or any(not 1 <= v <= 64 for v in values):
        raise ValueError("--workers needs integers between 1 and 64, e.g. 1 or 1,2")
    return values
