"""Customer service configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.events import CustomerTopicSettings
from libcommon.idempotency import IdempotencySettings
from libcommon.outbox.settings import OutboxSettings
from libcommon.settings import DatabaseSettings, ServiceSettings


class Settings(
    ServiceSettings, DatabaseSettings, OutboxSettings, CustomerTopicSettings, IdempotencySettings
):
    """Kafka and outbox relay settings (KAFKA_*, OUTBOX_*) come from libcommon.outbox.settings;
    KAFKA_CUSTOMER_TOPIC from libcommon.events, the event's one definition."""

    port: int = Field(default=3001, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/customers.db"
