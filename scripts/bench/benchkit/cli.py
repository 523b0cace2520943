"""`python scripts/bench.py`: start the stack on MariaDB, seed it, measure with wrk, report.

The run is composed of parts with one job each: `plan` (what to run, from the command line),
`services` (processes and databases), `seeding`, `measure` (one case at a time), `journal`
(what the operator is told) and `publish` (tables, results.json, chart). `Bench` only puts
them in order. See docs/BENCHMARKS.md for how to read the output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from benchkit import stack, wrk
from benchkit.cases import CASE_NAMES, Case
from benchkit.journal import Journal
from benchkit.measure import Measurer, describe_progress
from benchkit.plan import BenchPlan, make_token
from benchkit.publish import publish
from benchkit.report import CaseResult
from benchkit.seeding import seed_services
from benchkit.services import Services

__all__ = ["Bench", "Interrupted", "build_parser", "main", "make_token"]


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
    parser.add_argument("--rate-limits", default="default",
                        help="comma list of default, off, memory, redis: the BFF cases run once "
                             "per value, the BFFs restarted with RATE_LIMIT_ENABLED and "
                             "RATE_LIMIT_STORAGE_URL set accordingly (default: the services' "
                             "own settings); the default budgets, so nothing is refused")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="the Redis of --rate-limits redis (keys under a per-run prefix)")
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


class Bench:
    """One run: plan → services up → seed → measure each pass → publish."""

    def __init__(self, args: argparse.Namespace, wrk_binary: str,
                 plan: BenchPlan | None = None) -> None:
        self.wrk = wrk_binary
        self.plan = plan or BenchPlan.from_args(args)
        self.journal = Journal()
        self.services = Services(self.plan, self.journal)
        self.measurer = Measurer(self.plan, self.services, wrk_binary)
        self.results: list[CaseResult] = []
        self.memory: dict[str, list[dict[str, Any]]] = {}

    def start(self, workers: int) -> None:
        """Everything up to the first measurement (also what a --baseline side does)."""
        self.plan.out.mkdir(parents=True, exist_ok=True)
        self.plan.logs.mkdir(parents=True, exist_ok=True)
        self.services.check_sources()
        self.services.check_ports()
        self.services.check_redis()
        self.services.setup_databases()
        self.services.start_dependencies()
        self.services.start_services(workers)
        seed_services(self.plan, self.services, self.journal)

    def measure(self, case: Case, connections: int, workers: int,
                label: str | None = None) -> CaseResult:
        result = self.measurer.run_case(case, connections, workers)
        if label is not None:
            result.case = label
        self.results.append(result)
        self.journal.say(describe_progress(result))
        return result

    def measure_pass(self, workers: int, first: bool) -> None:
        modes = self.plan.rate_limit_modes
        for index, mode in enumerate(modes):
            if index > 0:  # the same BFF cases again, the BFFs restarted with this mode
                self.plan.rate_limit_mode = mode
                self.services.restart_bffs(workers)
            for case in self.plan.cases:
                if not first and not case.uses_workers:
                    continue  # the floor and the ceiling do not depend on WORKERS
                if index > 0 and not case.bff:
                    continue  # rate limits only change the BFFs
                for connections in self.plan.connections:
                    label = f"{case.name} [limits {mode}]" if len(modes) > 1 and case.bff else None
                    self.measure(case, connections, workers, label)
        self.plan.rate_limit_mode = modes[0]  # the next WORKERS pass starts as this one did

    def collect_memory(self, workers: int) -> None:
        for package, rows in self.services.memory().items():
            key = package if len(self.plan.workers) == 1 else f"{package} (WORKERS={workers})"
            self.memory[key] = rows

    def run(self) -> int:
        plan, say, note = self.plan, self.journal.say, self.journal.note
        started = time.time()
        load_before = os.getloadavg()
        _, access_desc = plan.access_log_env()
        say(f"results: {plan.out}")
        say(f"cases: {', '.join(c.name for c in plan.cases)}; connections "
            f"{plan.connections}; {plan.duration}s runs after {plan.warmup}s warm-up; "
            f"WORKERS {plan.workers}; access log: {access_desc}")
        cpus = os.cpu_count() or 1
        if load_before[0] > 0.5 * cpus:
            note(f"the machine is busy before the run (load {load_before[0]:.2f} on "
                 f"{cpus} CPUs): numbers will be noisy")
        interrupted = False
        mariadb = "not used"
        try:
            for index, workers in enumerate(plan.workers):
                say(f"starting services with WORKERS={workers}")
                if index == 0:
                    self.start(workers)
                    if self.services.databases:
                        mariadb = stack.server_version()
                else:
                    self.services.start_services(workers)
                spy = self.services.start_profiler(workers)
                self.measure_pass(workers, first=index == 0)
                self.services.stop_profiler(spy)
                self.collect_memory(workers)
                self.services.check_crm_mail()
                self.services.stop_services()
        except Interrupted as exc:
            interrupted = True
            note(f"interrupted ({exc}); reporting what was measured")
        except stack.StackError as exc:
            say(f"error: {exc}")
            return 2
        finally:
            self.services.teardown()
        meta = {
            "started": dt.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "elapsed_s": round(time.time() - started, 1),
            "git_commit": _git_commit(),
            "command": " ".join(sys.argv),
            "cases": [c.name for c in plan.cases],
            "connections": plan.connections,
            "duration_s": plan.duration,
            "warmup_s": plan.warmup,
            "workers": plan.workers,
            "access_log": access_desc,
            "rate_limits": plan.rate_limit_modes,
            "crm": bool(plan.with_crm and "crm" not in self.services.unavailable),
            "seed": {"books": plan.seed_books, "customers": plan.seed_customers},
            "wrk": _wrk_version(self.wrk),
            "wrk_threads": f"min({wrk.MAX_THREADS}, connections)",
            "python": platform.python_version(),
            "mariadb": mariadb,
            "cpus": cpus,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "ports": plan.ports,
            "interrupted": interrupted,
        }
        publish(plan, self.results, self.memory, meta, self.journal)
        if interrupted:
            return 130
        return 1 if any(r.status == "error" for r in self.results) else 0


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
