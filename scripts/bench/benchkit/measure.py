"""Run one (case, connections) against the running services: wrk or the commit ceiling."""

from __future__ import annotations

import asyncio
import secrets
import string
import subprocess
from pathlib import Path

from devkit.readiness import NotReady

from benchkit import cpu, stack, wrk
from benchkit.cases import Case
from benchkit.ceiling import run_ceiling
from benchkit.plan import BenchPlan
from benchkit.report import CaseResult, RowsCheck
from benchkit.services import Services


def _nonce() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def describe_progress(r: CaseResult) -> str:
    label = f"{r.case} c={r.connections}" + ("" if r.workers is None else f" w={r.workers}")
    if r.measured:
        extra = f"  {r.rows.describe()}" if r.rows else ""
        return (f"  {label:<34} {r.rps:>10,.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
                f"p99 {r.p99_ms:7.2f} ms  non-2xx {r.non_2xx}  sock {r.socket_errors}{extra}")
    return f"  {label:<34} {r.status}: {r.note}"


class Measurer:
    def __init__(self, plan: BenchPlan, services: Services, wrk_binary: str) -> None:
        self.plan = plan
        self.services = services
        self.wrk = wrk_binary

    def skip_reason(self, case: Case) -> str | None:
        for service in case.needs:
            if service in self.services.unavailable:
                return f"{service}: {self.services.unavailable[service]}"
            if self.services.get(service) is None:
                return f"{service} is not running"
        return None

    def script_for(self, case: Case) -> Path:
        path = self.plan.out / "lua" / f"{case.name}.lua"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wrk.compose_script(case.lua_pieces()), encoding="utf-8")
        return path

    def wrk_spec(self, case: Case, connections: int, duration: int) -> wrk.WrkRun:
        proc = self.services.get(case.target)
        assert proc is not None
        headers: dict[str, str] = {}
        if case.bff:
            headers["Authorization"] = f"Bearer {self.plan.token}"
        if case.user_agent:
            headers["User-Agent"] = case.user_agent
        args: dict[str, str] = {}
        if case.kind == "wrk-get":
            args["paths"] = str(self.plan.customer_paths if case.paths == "customers"
                                else self.plan.book_paths)
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
            proc = self.services.get(name)
            if proc is not None and proc.pid is not None:
                pids[name] = proc.pid
        return pids

    def run_wrk_case(self, case: Case, connections: int, workers: int | None) -> CaseResult:
        plan = self.plan
        result = CaseResult(case.name, case.title, connections, workers)
        database = plan.db_names["svc_book" if case.table == "books" else "svc_customer"]
        before = stack.count_rows(database, case.table) if case.table else 0
        created = unanswered = 0
        runs = [(plan.warmup, False)] if plan.warmup > 0 else []
        runs.append((plan.duration, True))
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
            self.plan.db_names["ceiling"], connections, self.plan.duration, self.plan.warmup))
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
        except (wrk.WrkError, stack.StackError, NotReady, OSError, RuntimeError,
                subprocess.TimeoutExpired) as exc:
            return CaseResult(case.name, case.title, connections, worker_label, status="error",
                              note=str(exc).splitlines()[0][:300])
