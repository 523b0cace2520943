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
Process supervision (start, readiness, logs, stop) is run_local's `Child`; this module only says
what to start and adds the faults: kill -9 and restart one process, stop and start the broker or
the primary database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import aiohttp
from run_local import Child, Console, ServiceSpec, tansu_binary
from smoke import mint_token

from tests.fixtures.mail import SmtpServer
from tests.fixtures.replication import APP_PASSWORD, APP_USER, ReplicationPair, free_port

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = Path(__file__).resolve().parent / "haproxy.cfg"
HOST = "127.0.0.1"
TOPIC = "bookstore.customer.evt"
DATABASES = {"svc_book": "bst_topo_books", "svc_customer": "bst_topo_customers",
             "crm": "bst_topo_crm"}
# Tiers behind HAProxy: name -> (python package, replicas)
TIERS = {"svc_book": 2, "svc_customer": 2, "bff_book": 2, "bff_customer": 2}
JWT_SECRET = "topology-secret-" + "k" * 24 + "-0123456789abcdef"


@dataclass
class Ports:
    lb: dict[str, int] = field(default_factory=dict)          # tier -> HAProxy port
    replicas: dict[str, list[int]] = field(default_factory=dict)  # tier -> process ports
    kafka: int = 0
    engines: list[int] = field(default_factory=list)
    crm: int = 0

    @classmethod
    def allocate(cls) -> Ports:
        return cls(lb={tier: free_port() for tier in TIERS},
                   replicas={tier: [free_port() for _ in range(n)] for tier, n in TIERS.items()},
                   kafka=free_port(), engines=[free_port(), free_port()], crm=free_port())

    def haproxy_env(self) -> dict[str, str]:
        env = {"TOPO_HOST": HOST}
        for tier in TIERS:
            env[f"{tier.upper()}_LB"] = str(self.lb[tier])
            for index, port in enumerate(self.replicas[tier], start=1):
                env[f"{tier.upper()}_{index}"] = str(port)
        return env


class Topology:
    """Start with `await topology.start()`, stop with `await topology.stop()`."""

    def __init__(self, var_dir: Path, log: TextIO, *, workers: int = 1) -> None:
        self.var_dir = var_dir.resolve()
        self.ports = Ports.allocate()
        self.console = Console(log)
        self.workers = workers
        self.db = ReplicationPair(self.var_dir / "mariadb")
        self.children: dict[str, Child] = {}
        self.mail = SmtpServer(free_port())
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
    def specs(self) -> Iterator[ServiceSpec]:
        python = sys.executable
        kafka = {"KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{self.ports.kafka}"}
        listener = f"tcp://{HOST}:{self.ports.kafka}"
        yield ServiceSpec("tansu", [tansu_binary(dict(os.environ)), "broker", "--listener-url",
                                    listener, "--advertised-listener-url", listener,
                                    "--storage-engine", "memory://tansu/"],
                          self.ports.kafka, ready_path=None)
        for index, port in enumerate(self.ports.engines, start=1):
            yield ServiceSpec(f"recommender_{index}", [python, "-m", "recommender"], port)
        for index, port in enumerate(self.ports.replicas["svc_book"], start=1):
            writer, reader = self.database_urls("svc_book")
            yield ServiceSpec(f"svc_book_{index}", [python, "-m", "svc_book"], port, {
                "DATABASE_URL": writer, "DATABASE_READ_URL": reader,
                "RECOMMENDER_URL": self.url(self.ports.engines[index - 1]),
                # The circuit is per pod: each replica has its own state file.
                "BREAKER_STATE_FILE": str(self.var_dir / "breaker" / f"svc_book_{index}.json"),
                # Short enough that a scenario sees the circuit close again after the fault.
                "BREAKER_RESET_S": os.environ.get("BREAKER_RESET_S", "5"), "WORKERS": "1"})
        for index, port in enumerate(self.ports.replicas["svc_customer"], start=1):
            writer, reader = self.database_urls("svc_customer")
            yield ServiceSpec(f"svc_customer_{index}", [python, "-m", "svc_customer"], port, {
                "DATABASE_URL": writer, "DATABASE_READ_URL": reader, **kafka,
                "OUTBOX_BACKOFF_MAX_S": "1"})
        writer, _reader = self.database_urls("crm")
        yield ServiceSpec("crm", [python, "-m", "crm"], self.ports.crm, {
            "DATABASE_URL": writer, "MAIL_BACKEND": "smtp", "SMTP_HOST": HOST,
            "SMTP_PORT": str(self.mail.port), "SMTP_SECURITY": "none", **kafka})
        for tier, upstream in (("bff_book", "BOOK_SERVICE_URL"),
                               ("bff_customer", "CUSTOMER_SERVICE_URL")):
            service = "svc_book" if tier == "bff_book" else "svc_customer"
            for index, port in enumerate(self.ports.replicas[tier], start=1):
                yield ServiceSpec(f"{tier}_{index}", [python, "-m", tier], port, {
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
        specs = {spec.name: spec for spec in self.specs()}
        for spec in specs.values():
            spec.env.setdefault("PORT", str(spec.port))
            spec.env["PORT"] = str(spec.port)
        self.console.width = max(len(name) for name in specs)
        # Broker and engines, then services, then the load balancer, then the BFFs.
        waves = [[n for n in specs if n == "tansu" or n.startswith("recommender")],
                 [n for n in specs if n.startswith(("svc_", "crm"))],
                 [n for n in specs if n.startswith("bff_")]]
        for index, wave in enumerate(waves):
            for name in wave:
                await self.start_process(specs[name])
            await self.wait_ready(wave, ready_timeout_s)
            if index == 0:
                await self.create_topic()
            if index == 1:
                await self.start_haproxy()
        await self.wait_lb_ready(ready_timeout_s)

    def _start_databases(self) -> None:
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

    async def start_process(self, spec: ServiceSpec) -> Child:
        child = Child(spec, self.console)
        await child.start(self.base_env())
        self.children[spec.name] = child
        return child

    async def create_topic(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            tansu_binary(dict(os.environ)), "topic", "create", TOPIC, "--broker",
            f"tcp://{HOST}:{self.ports.kafka}", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()

    async def start_haproxy(self) -> None:
        spec = ServiceSpec("haproxy", ["haproxy", "-W", "-db", "-f", str(HAPROXY_CFG)],
                           self.ports.lb["svc_book"], env=self.ports.haproxy_env(),
                           ready_path=None)
        await self.start_process(spec)

    async def wait_ready(self, names: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        pending = set(names)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            while pending:
                for name in sorted(pending):
                    child = self.children[name]
                    if not child.running:
                        raise RuntimeError(f"{name} exited during start-up; see the log")
                    if await self._ready(session, child.spec):
                        pending.discard(name)
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not ready after {timeout_s:.0f} s: {sorted(pending)}")
                if pending:
                    await asyncio.sleep(0.1)

    async def wait_lb_ready(self, timeout_s: float) -> None:
        """Until every tier answers /ready through HAProxy."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            for tier in TIERS:
                spec = ServiceSpec(tier, [], self.ports.lb[tier])
                while not await self._ready(session, spec):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{tier} not ready through HAProxy")
                    await asyncio.sleep(0.1)

    async def _ready(self, session: aiohttp.ClientSession, spec: ServiceSpec) -> bool:
        if spec.ready_path is None:
            try:
                _reader, writer = await asyncio.open_connection(HOST, spec.port)
            except OSError:
                return False
            writer.close()
            return True
        try:
            async with session.get(f"{self.url(spec.port)}{spec.ready_path}") as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def stop(self) -> None:
        order = ("haproxy", "bff_", "svc_", "crm", "recommender", "tansu")
        for prefix in order:
            group = [c for n, c in self.children.items() if n.startswith(prefix)]
            await asyncio.gather(*(c.stop(10) for c in group))
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
        return {name: child.proc.pid for name, child in self.children.items()
                if child.proc is not None and child.running}

    async def kill(self, name: str) -> None:
        """kill -9 (the process gets no chance to drain or clean up)."""
        child = self.children[name]
        child.kill()
        await child.wait()

    async def restart(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a killed or stopped process again with the same spec and port."""
        old = self.children[name]
        if old.running:
            raise RuntimeError(f"{name} is still running")
        await self.start_process(old.spec)
        await self.wait_ready([name], timeout_s)
        if name == "tansu":
            await self.create_topic()

    async def stop_process(self, name: str) -> None:
        """SIGTERM and wait (the broker's orderly stop)."""
        child = self.children[name]
        if child.proc is not None and child.running:
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
        await child.stop(10)

    async def set_engine_delay(self, index: int, ms: int) -> None:
        async with aiohttp.ClientSession() as session, session.put(
                f"{self.url(self.ports.engines[index - 1])}/delay", json={"ms": ms}) as response:
            response.raise_for_status()
