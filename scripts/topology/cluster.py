"""The replicated topology on one machine: what the cluster runs, as processes on loopback.

    MariaDB primary + GTID replica (own mariadbd's)    writer / reader of each service
    Tansu (Kafka protocol)                              one broker
    recommender x2                                      one engine per Book service replica, so
                                                        one replica's engine can time out alone
    svc_book x2, svc_customer x2, crm x1                the services
    bff_book x2, bff_customer x2                        the public entry points
    HAProxy                                             one listener per replicated tier
                                                        (haproxy.cfg beside this file)
    an SMTP sink (aiosmtpd, in this process)            counts every welcome e-mail, resends too

BFFs reach the services only through HAProxy, as they reach Kubernetes Services in the cluster.
Process supervision (start, readiness, logs, stop) is the development kit's (scripts/devkit),
as for make run, the benchmark and the tests; this module only says what to start and adds the
faults: kill -9 and restart one process, stop and start the broker or the primary database.
Each process logs to <var_dir>/logs/<name>.log.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from devkit.ports import free_port
from devkit.processes import Proc
from devkit.readiness import NotReady, accepts_connections, wait_http, wait_until
from devkit.tansu import broker_argv, create_bucket, create_topic, s3_storage_env, tansu_binary
from devkit.tokens import mint_token

from tests.fixtures.mail import SmtpServer, moto_server_binary
from tests.fixtures.replication import APP_PASSWORD, APP_USER, ReplicationPair

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = Path(__file__).resolve().parent / "haproxy.cfg"
HOST = "127.0.0.1"
TOPIC = "bookstore.customer.evt"
DATABASES = {"svc_book": "bst_topo_books", "svc_customer": "bst_topo_customers",
             "crm": "bst_topo_crm"}
# Tiers behind HAProxy -> replicas
TIERS = {"svc_book": 2, "svc_customer": 2, "bff_book": 2, "bff_customer": 2}
JWT_SECRET = "topology-secret-" + "k" * 24 + "-0123456789abcdef"
BUCKET = "tansu-topology"


@dataclass
class Ports:
    lb: dict[str, int] = field(default_factory=dict)          # tier -> HAProxy port
    replicas: dict[str, list[int]] = field(default_factory=dict)  # tier -> process ports
    kafka: int = 0
    s3: int = 0
    engines: list[int] = field(default_factory=list)
    crm: int = 0

    primary_db: int = 0
    replica_db: int = 0

    @classmethod
    def allocate(cls) -> Ports:
        """Distinct free ports: every socket stays bound until all are chosen."""
        with contextlib.ExitStack() as stack:
            def port() -> int:
                sock = stack.enter_context(socket.socket())
                sock.bind((HOST, 0))
                number: int = sock.getsockname()[1]
                return number

            return cls(lb={tier: port() for tier in TIERS},
                       replicas={tier: [port() for _ in range(n)] for tier, n in TIERS.items()},
                       kafka=port(), s3=port(), engines=[port(), port()], crm=port(),
                       primary_db=port(), replica_db=port())

    def haproxy_env(self) -> dict[str, str]:
        env = {"TOPO_HOST": HOST}
        for tier in TIERS:
            env[f"{tier.upper()}_LB"] = str(self.lb[tier])
            for index, port in enumerate(self.replicas[tier], start=1):
                env[f"{tier.upper()}_{index}"] = str(port)
        return env


@dataclass
class Spec:
    """What to run: argv, own environment, port and how to tell it is ready."""

    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str | None = "/ready"  # None: ready when the port accepts connections


class Topology:
    """Start with `await topology.start()`, stop with `await topology.stop()`."""

    def __init__(self, var_dir: Path, *, workers: int = 1) -> None:
        self.var_dir = var_dir.resolve()
        self.ports = Ports.allocate()
        self.workers = workers
        self.db = ReplicationPair(self.var_dir / "mariadb", primary_port=self.ports.primary_db,
                                  replica_port=self.ports.replica_db)
        self.mail = SmtpServer(free_port())
        self.procs: dict[str, Proc] = {}
        self.specs: dict[str, Spec] = {}
        self.token = mint_token(JWT_SECRET)

    # -- addresses -------------------------------------------------------------------------
    def url(self, port: int) -> str:
        return f"http://{HOST}:{port}"

    @property
    def book_url(self) -> str:
        """The public Book BFF (through HAProxy)."""
        return self.url(self.ports.lb["bff_book"])

    @property
    def customer_url(self) -> str:
        return self.url(self.ports.lb["bff_customer"])

    def database_urls(self, package: str) -> tuple[str, str]:
        name = DATABASES[package]
        creds = f"{APP_USER}:{APP_PASSWORD}"
        return (f"mysql+aiomysql://{creds}@{HOST}:{self.db.primary.port}/{name}",
                f"mysql+aiomysql://{creds}@{HOST}:{self.db.replica.port}/{name}")

    # -- what runs -------------------------------------------------------------------------
    def all_specs(self) -> Iterator[Spec]:
        python = sys.executable
        kafka = {"KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{self.ports.kafka}"}
        s3 = self.url(self.ports.s3)
        yield Spec("s3", [moto_server_binary(), "-H", HOST, "-p", str(self.ports.s3)],
                   self.ports.s3, ready_path=None)
        # Durable broker storage (S3 on moto): a broker restart keeps every acknowledged record.
        yield Spec("tansu", broker_argv(tansu_binary(), self.ports.kafka, HOST,
                                        storage=f"s3://{BUCKET}/"),
                   self.ports.kafka, env=s3_storage_env(s3), ready_path=None)
        for index, port in enumerate(self.ports.engines, start=1):
            yield Spec(f"recommender_{index}", [python, "-m", "recommender"], port)
        for index, port in enumerate(self.ports.replicas["svc_book"], start=1):
            writer, reader = self.database_urls("svc_book")
            yield Spec(f"svc_book_{index}", [python, "-m", "svc_book"], port, {
                "DATABASE_URL": writer, "DATABASE_READ_URL": reader,
                "RECOMMENDER_URL": self.url(self.ports.engines[index - 1]),
                # The circuit is per pod: each replica has its own state file.
                "BREAKER_STATE_FILE": str(self.var_dir / "breaker" / f"svc_book_{index}.json"),
                # Short enough that a scenario sees the circuit close again after the fault.
                "BREAKER_RESET_S": os.environ.get("BREAKER_RESET_S", "5"), "WORKERS": "1"})
        for index, port in enumerate(self.ports.replicas["svc_customer"], start=1):
            writer, reader = self.database_urls("svc_customer")
            yield Spec(f"svc_customer_{index}", [python, "-m", "svc_customer"], port, {
                "DATABASE_URL": writer, "DATABASE_READ_URL": reader, **kafka,
                "OUTBOX_BACKOFF_MAX_S": "1"})
        writer, _reader = self.database_urls("crm")
        yield Spec("crm", [python, "-m", "crm"], self.ports.crm, {
            "DATABASE_URL": writer, "MAIL_BACKEND": "smtp", "SMTP_HOST": HOST,
            "SMTP_PORT": str(self.mail.port), "SMTP_SECURITY": "none", **kafka})
        yield Spec("haproxy", ["haproxy", "-W", "-db", "-f", str(HAPROXY_CFG)],
                   self.ports.lb["svc_book"], env=self.ports.haproxy_env(), ready_path=None)
        for tier, upstream in (("bff_book", "BOOK_SERVICE_URL"),
                               ("bff_customer", "CUSTOMER_SERVICE_URL")):
            service = "svc_book" if tier == "bff_book" else "svc_customer"
            for index, port in enumerate(self.ports.replicas[tier], start=1):
                yield Spec(f"{tier}_{index}", [python, "-m", tier], port, {
                    upstream: self.url(self.ports.lb[service]), "JWT_SECRET": JWT_SECRET})

    def base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("DATABASE_URL", "DATABASE_READ_URL", "PORT", "KAFKA_BOOTSTRAP_SERVERS"):
            env.pop(name, None)
        env.update({"LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1", "HOST": HOST,
                    "WORKERS": str(self.workers), "MIGRATE_ON_START": "false",
                    "ACCESS_LOG": "false", "DB_CONNECT_TIMEOUT_S": "2",
                    "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                env.get("PYTHONPATH")]))})
        return env

    # -- life cycle ------------------------------------------------------------------------
    async def start(self, ready_timeout_s: float = 120.0) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.mail.start()
        await asyncio.to_thread(self._start_databases)
        self.specs = {spec.name: spec for spec in self.all_specs()}
        # S3, broker and engines; the services; the load balancer; the BFFs.
        waves = [["s3"], ["tansu"] + [n for n in self.specs if n.startswith("recommender")],
                 [n for n in self.specs if n.startswith(("svc_", "crm"))], ["haproxy"],
                 [n for n in self.specs if n.startswith("bff_")]]
        for wave in waves:
            if "tansu" in wave:
                await asyncio.to_thread(create_bucket, self.url(self.ports.s3), BUCKET)
            await asyncio.gather(*(self.start_process(name, ready_timeout_s) for name in wave))
        await asyncio.to_thread(self.wait_lb_ready, ready_timeout_s)

    def _start_databases(self) -> None:
        import subprocess

        self.db.start()
        for package, name in DATABASES.items():
            self.db.primary.execute(f"DROP DATABASE IF EXISTS `{name}`",
                                    f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                                    "COLLATE utf8mb4_unicode_ci")
            writer, _reader = self.database_urls(package)
            subprocess.run([sys.executable, "-m", "libcommon.migrate", package], cwd=ROOT,
                           env={**self.base_env(), "DATABASE_URL": writer}, check=True,
                           capture_output=True, timeout=120)
        self.db.wait_caught_up()

    async def start_process(self, name: str, timeout_s: float = 60.0) -> Proc:
        spec = self.specs[name]
        env = {**self.base_env(), **spec.env}
        if spec.ready_path is not None:
            env["PORT"] = str(spec.port)
        proc = Proc(name, spec.argv, env, self.var_dir / "logs" / f"{name}.log", port=spec.port,
                    cwd=ROOT, die_with_parent=True)
        self.procs[name] = proc
        await asyncio.to_thread(proc.start)
        if spec.ready_path is None:
            await asyncio.to_thread(proc.wait_port, timeout_s)
        else:
            await asyncio.to_thread(proc.wait_http, spec.ready_path, timeout_s)
        if name == "tansu":
            error = await asyncio.to_thread(create_topic, tansu_binary(), spec.port, TOPIC, HOST)
            if error:
                raise NotReady(f"topic {TOPIC}: {error}")
        return proc

    def wait_lb_ready(self, timeout_s: float) -> None:
        """Until every tier answers /ready through HAProxy."""
        for tier in TIERS:
            wait_http(f"{self.url(self.ports.lb[tier])}/ready", timeout_s)
        wait_until(lambda: accepts_connections(self.ports.lb["bff_book"]), what="haproxy",
                   timeout_s=timeout_s)

    async def stop(self) -> None:
        order = ("haproxy", "bff_", "svc_", "crm", "recommender", "tansu", "s3")
        for prefix in order:
            group = [p for n, p in self.procs.items() if n.startswith(prefix)]
            await asyncio.gather(*(asyncio.to_thread(p.stop, 10) for p in group))
        await asyncio.to_thread(self.db.stop)
        self.mail.stop()

    def mails_by_recipient(self) -> dict[str, int]:
        """How many welcome e-mails each address received (a resend counts twice)."""
        counts: dict[str, int] = {}
        for mail in self.mail.received():
            for address in mail.rcpt_tos:
                counts[address.lower()] = counts.get(address.lower(), 0) + 1
        return counts

    # -- faults ----------------------------------------------------------------------------
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()
                if proc.pid is not None and proc.running()}

    async def kill(self, name: str) -> None:
        """kill -9 (the process gets no chance to drain or clean up)."""
        await asyncio.to_thread(self.procs[name].kill)
        await asyncio.to_thread(self.procs[name].stop, 5)

    async def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a killed or stopped process again with the same spec and port."""
        if self.procs[name].running():
            raise RuntimeError(f"{name} is still running")
        await self.start_process(name, timeout_s)

    async def stop_process(self, name: str) -> None:
        """SIGTERM and wait (an orderly stop, e.g. of the broker)."""
        await asyncio.to_thread(self.procs[name].stop, 10)

    async def set_engine_delay(self, index: int, ms: int) -> None:
        async with aiohttp.ClientSession() as session, session.put(
                f"{self.url(self.ports.engines[index - 1])}/delay", json={"ms": ms}) as response:
            response.raise_for_status()
