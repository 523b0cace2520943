"""Configuration from the environment, validated at start-up."""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar, get_args, get_origin

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from libcommon.forwarded import DEFAULT_ALLOW_IPS, TrustedProxies
from libcommon.tls import server_ssl_context

S = TypeVar("S", bound=BaseSettings)

# FORWARDED_ALLOW_IPS: parsed once at start-up (a bad entry stops the process, named).
ForwardedAllowIps = Annotated[
    TrustedProxies, NoDecode, BeforeValidator(TrustedProxies.parse), PlainSerializer(str)
]


class ServiceSettings(BaseSettings):
    """Settings every HTTP service has. Environment names are the field names upper-cased."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, case_sensitive=False, arbitrary_types_allowed=True
    )

    host: str = "0.0.0.0"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # A client that stops sending its body gets 408 after this long.
    body_timeout_s: float = Field(default=10.0, gt=0)
    shutdown_timeout_s: float = Field(default=10.0, ge=0)
    # Slowloris: a request header not complete this long after its first byte -> 408, closed.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # Open connections per process; one more is answered 503 and closed at once.
    max_connections: int = Field(default=4096, ge=1)
    # Reverse proxies whose X-Forwarded-For/-Host/-Proto are believed (libcommon.forwarded).
    forwarded_allow_ips: ForwardedAllowIps = TrustedProxies.parse(DEFAULT_ALLOW_IPS)
    # When set, /metrics is served only on this port (with /status and /ready, which the main
    # port keeps too): probes and Prometheus use it, the public Service does not expose it.
    admin_port: int | None = Field(default=None, ge=1, le=65535)
    # HTTPS on the main port (PEM files; the key may be in the certificate file). The key is
    # declared first so the certificate's check sees it.
    tls_key_file: Path | None = None
    tls_cert_file: Path | None = None

    @field_validator("tls_cert_file")
    @classmethod
    def _certificate_loads(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is not None:
            server_ssl_context(value, info.data.get("tls_key_file"))
        return value

    @model_validator(mode="after")
    def _edge_settings_consistent(self) -> Self:
        if self.tls_key_file is not None and self.tls_cert_file is None:
            raise ValueError("TLS_KEY_FILE is set without TLS_CERT_FILE")
        if self.admin_port is not None and self.admin_port == self.port:
            raise ValueError("ADMIN_PORT must differ from PORT")
        return self

    def ssl_context(self) -> ssl.SSLContext | None:
        """The main port's TLS context, or None for plain HTTP."""
        if self.tls_cert_file is None:
            return None
        return server_ssl_context(self.tls_cert_file, self.tls_key_file)


class DatabaseSettings(BaseSettings):
    """Settings of a service that owns a database."""

    database_url: str = "sqlite+aiosqlite:///var/app.db"
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    db_pool_recycle_s: int = Field(default=1800, ge=-1)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # auto: migrate SQLite at start-up, leave MySQL to `python -m libcommon.migrate <pkg>`.
    migrate_on_start: Literal["auto", "true", "false"] = "auto"
    # A replica (an RDS reader endpoint) for lists and searches; unset or empty: none. SQLite
    # ignores it. Routing rules: libcommon/db/routing.py and the README.
    database_read_url: str | None = None
    # Lists go to the reader while its replication lag is at most this; beyond, to the writer.
    read_max_lag_s: float = Field(default=1.0, ge=0)
    # How often the reader's lag (and, while it is down, the writer) is checked in the
    # background; also the Retry-After of a write refused while the writer is down.
    db_health_interval_s: float = Field(default=0.5, gt=0, le=60)

    @field_validator("database_read_url")
    @classmethod
    def _check_read_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        writer = str(info.data.get("database_url", ""))
        if writer.startswith("sqlite"):
            return value  # ignored (see reader_url)
        from libcommon.db.url import parse_database_url

        parsed = parse_database_url(value)  # ValueError → one line naming DATABASE_READ_URL
        if parsed.dialect != "mysql":
            raise ValueError("the reader must be a MySQL/MariaDB URL like DATABASE_URL")
        if not parsed.database:
            raise ValueError("the reader URL names no database (mysql+aiomysql://.../<db>)")
        return value

    def reader_url(self) -> str | None:
        """The reader to use: None without one, or when the writer is SQLite."""
        if self.database_read_url is None or self.database_url.startswith("sqlite"):
            return None
        return self.database_read_url

    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start == "auto":
            return self.database_url.startswith("sqlite")
        return self.migrate_on_start == "true"


def describe_error(exc: ValidationError) -> str:
    """One line naming each bad variable, e.g. `PORT: Input should be a valid integer`."""
    parts = []
    for err in exc.errors(include_url=False):
        name = "_".join(str(p) for p in err["loc"]).upper() or "settings"
        parts.append(f"{name}: {err['msg']}")
    return "; ".join(parts)


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment, or stop the process with a one-line error."""
    try:
        return cls()
    except ValidationError as exc:
        print(f"configuration error: {describe_error(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


_TYPE_NAMES: dict[Any, str] = {
    int: "integer", float: "number", bool: "true/false", str: "text", SecretStr: "secret",
    TrustedProxies: "comma list of IPs/CIDRs, * or empty",
}


def _describe_type(info: FieldInfo) -> str:
    """`integer (>= 0, <= 65535)`, `one of: json, text`-style hints for --help."""
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return "one of: " + ", ".join(str(a) for a in get_args(annotation))
    optional = [a for a in get_args(annotation) if a is not type(None)]
    if len(optional) == 1:  # X | None
        annotation = optional[0]
    text = _TYPE_NAMES.get(annotation, str(annotation))
    bounds = []
    for constraint in info.metadata:
        for attr, symbol in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            value = getattr(constraint, attr, None)
            if value is not None:
                bounds.append(f"{symbol} {value}")
        if getattr(constraint, "min_length", None):
            bounds.append("not empty")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _describe_default(info: FieldInfo) -> str:
    if info.is_required():
        return "(required)"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "(unset)"
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, SecretStr):
        return "(secret)"
    return str(default) if str(default) != "" else '""'


def settings_help(cls: type[BaseSettings]) -> str:
    """Every environment variable `cls` reads, with its default and accepted values."""
    rows = [
        (name.upper(), _describe_default(info), _describe_type(info))
        for name, info in cls.model_fields.items()
    ]
    width = max(len(row[0]) for row in rows)
    default_width = min(max(len(row[1]) for row in rows), 40)
    return "\n".join(
        f"  {name:<{width}}  {default:<{default_width}}  {kind}" for name, default, kind in rows
    )


def load_settings_from_command_line(
    cls: type[S], *, prog: str, description: str | None, argv: Sequence[str] | None = None
) -> S:
    """`python -m <package> [--help]`: print the settings with their defaults and exit, or
    load them from the environment (see `load_settings`)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(description or "").strip() + "\n\nConfiguration comes only from the "
        "environment (a bad value stops the service with one line naming the variable).",
        epilog="environment variables (default, accepted values):\n" + settings_help(cls),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    return load_settings(cls)
