"""Configuration from the environment, validated at start-up."""

from __future__ import annotations

import sys
from typing import Annotated, Literal, TypeVar

from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from libcommon.forwarded import DEFAULT_ALLOW_IPS, TrustedProxies

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
    # Reverse proxies whose X-Forwarded-For/-Host/-Proto are believed (libcommon.forwarded).
    forwarded_allow_ips: ForwardedAllowIps = TrustedProxies.parse(DEFAULT_ALLOW_IPS)


class DatabaseSettings(BaseSettings):
    """Settings of a service that owns a database."""

    database_url: str = "sqlite+aiosqlite:///var/app.db"
    db_pool_min: int = Field(default=1, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    db_pool_recycle_s: int = Field(default=1800, ge=-1)
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    # auto: migrate SQLite at start-up, leave MySQL to `python -m libcommon.migrate <pkg>`.
    migrate_on_start: Literal["auto", "true", "false"] = "auto"

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
