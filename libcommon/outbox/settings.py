"""Outbox relay settings (environment names are the field names upper-cased)."""

from __future__ import annotations

from pydantic import Field

from libcommon.kafka import KafkaSettings


class OutboxSettings(KafkaSettings):
    """Relay tuning, on top of the Kafka producer's settings."""

    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1, le=10_000)
    outbox_backoff_initial_s: float = Field(default=0.2, gt=0)
    outbox_backoff_max_s: float = Field(default=5.0, gt=0)
    # Sent rows are deleted after this long (0 keeps them forever).
    outbox_retention_s: float = Field(default=7 * 24 * 3600, ge=0)
    # /ready fails when the oldest unsent event is older than this (0: never fails, the
    # service keeps accepting writes during a broker outage, which is the point).
    outbox_ready_max_age_s: float = Field(default=0, ge=0)
