"""Customer service configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.outbox import OutboxSettings
from libcommon.settings import DatabaseSettings, ServiceSettings


class Settings(ServiceSettings, DatabaseSettings, OutboxSettings):
    """Kafka and outbox relay settings (KAFKA_*, OUTBOX_*) come from libcommon.outbox."""

    port: int = Field(default=3001, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/customers.db"
