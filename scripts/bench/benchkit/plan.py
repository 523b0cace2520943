"""What one benchmark run does: the settings derived from the command line, fixed up front."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from devkit import CUSTOMER_TOPIC
from devkit.tokens import mint_token

from benchkit import stack
from benchkit.cases import Case, parse_connections, parse_workers, select_cases, services_needed

# Offsets from --base-port, so a local stack on the default ports is left alone.
PORT_OFFSETS = {"svc_book": 0, "svc_customer": 1, "crm": 2, "recommender": 3,
                "svc_book_traced": 4, "bff_book": 80, "bff_customer": 81, "bff_book_traced": 82,
                "floor": 90, "floor_logged": 91, "tansu": 92, "otlp_sink": 93}
TOKEN_TTL_S = 7 * 86400
RATE_LIMIT_MODES = ("default", "off", "memory", "redis")
TOPIC = CUSTOMER_TOPIC


def _service_default_access_log() -> bool:
    try:
        from libcommon.settings import ServiceSettings
    except ImportError:  # the project is not installed in this interpreter
        return True
    return bool(ServiceSettings.model_fields["access_log"].default)


def parse_rate_limit_modes(spec: str) -> list[str]:
    modes = [part.strip() for part in spec.split(",") if part.strip()]
    if not modes or any(mode not in RATE_LIMIT_MODES for mode in modes):
        raise ValueError(f"--rate-limits takes a comma list of {', '.join(RATE_LIMIT_MODES)}")
    return modes


def make_token(secret: str, now: float | None = None) -> str:
    """The token the harness gives the BFFs (valid for a week: runs are long)."""
    return mint_token(secret, ttl_s=TOKEN_TTL_S, now=now)


@dataclass
class BenchPlan:
    args: argparse.Namespace
    cases: list[Case]
    connections: list[int]
    workers: list[int]
    duration: int
    warmup: int
    seed_books: int
    seed_customers: int
    out: Path
    ports: dict[str, int]
    # The source tree and databases of the stack (a --baseline revision has its own).
    root: Path = stack.ROOT
    # token_urlsafe: hex has only 16 distinct bytes, too few for the BFFs' rule.
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    token: str = ""
    # --rate-limits: the BFF cases run once per mode; `rate_limit_mode` is the current one.
    rate_limit_modes: list[str] = field(default_factory=lambda: ["default"])
    rate_limit_mode: str = ""

    def __post_init__(self) -> None:
        self.token = self.token or make_token(self.secret)
        self.rate_limit_mode = self.rate_limit_mode or self.rate_limit_modes[0]
        # Named after the base port: two runs on different ports never share a database.
        self.db_names = {key: f"{name}_{self.args.base_port}"
                         for key, name in stack.DATABASES.items()}

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BenchPlan:
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        return cls(
            args=args,
            cases=select_cases(args.cases),
            connections=[4] if args.smoke else parse_connections(args.connections),
            workers=parse_workers(args.workers),
            duration=1 if args.smoke else args.duration,
            warmup=0 if args.smoke else args.warmup,
            seed_books=20 if args.smoke else args.seed_books,
            seed_customers=20 if args.smoke else args.seed_customers,
            out=args.out or stack.ROOT / "bench-results" / stamp,
            ports={name: args.base_port + off for name, off in PORT_OFFSETS.items()},
            rate_limit_modes=parse_rate_limit_modes(getattr(args, "rate_limits", "default")),
        )

    @property
    def logs(self) -> Path:
        return self.out / "logs"

    @property
    def book_paths(self) -> Path:
        return self.out / "paths-books.txt"

    @property
    def customer_paths(self) -> Path:
        return self.out / "paths-customers.txt"

    @property
    def with_crm(self) -> bool:
        return bool(self.args.with_crm)

    def needed_services(self) -> list[str]:
        return services_needed(self.cases)

    def rate_limit_env(self) -> dict[str, str]:
        """The BFFs' rate-limit settings in the current mode. The budgets stay the defaults
        (far above what is sent): what is measured is the cost of checking them."""
        mode = self.rate_limit_mode
        if mode == "default":
            return {}
        if mode == "off":
            return {"RATE_LIMIT_ENABLED": "false"}
        storage = getattr(self.args, "redis_url", "") if mode == "redis" else "memory://"
        return {"RATE_LIMIT_ENABLED": "true", "RATE_LIMIT_STORAGE_URL": storage,
                "RATE_LIMIT_KEY_PREFIX": f"bench-{self.args.base_port}-{secrets.token_hex(4)}"}

    def access_log_env(self) -> tuple[dict[str, str], str]:
        """The services' ACCESS_LOG and how to describe the choice."""
        choice = self.args.access_log
        if choice == "on":
            return {"ACCESS_LOG": "true"}, "on (--access-log on)"
        if choice == "off":
            return {"ACCESS_LOG": "false"}, "off (--access-log off)"
        if "ACCESS_LOG" in os.environ:
            return {}, f"ACCESS_LOG={os.environ['ACCESS_LOG']} (from the environment)"
        state = "on" if _service_default_access_log() else "off"
        return {}, f"services' default ({state})"
