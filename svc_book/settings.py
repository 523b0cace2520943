"""Book service configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.idempotency import IdempotencySettings
from libcommon.settings import DatabaseSettings, ServiceSettings


class Settings(ServiceSettings, DatabaseSettings, IdempotencySettings):
    port: int = Field(default=3000, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/books.db"
    recommender_url: str = "http://127.0.0.1:3003"
    recommender_timeout_s: float = Field(default=3.0, gt=0)
    breaker_reset_s: float = Field(default=60.0, gt=0)
    breaker_state_file: str = "var/breaker/svc_book.json"
