"""aiokafka producers and consumers built from the environment.

acks="all" always. Idempotence is off by default: the local broker (Tansu) rejects
aiokafka's idempotent producer; turn it on against MSK/Apache Kafka with
KAFKA_ENABLE_IDEMPOTENCE=true. KAFKA_SECURITY_PROTOCOL=SSL gives TLS (e.g. MSK's TLS
listener on port 9094) with the system CA bundle or KAFKA_SSL_CAFILE.
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import Field
from pydantic_settings import BaseSettings


class KafkaSettings(BaseSettings):
    """Mixin for services that talk to Kafka (environment names are the field names)."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL"] = "PLAINTEXT"
    kafka_ssl_cafile: str | None = None
    kafka_enable_idempotence: bool = False
    kafka_client_id: str | None = None
    kafka_request_timeout_ms: int = Field(default=10_000, ge=1000)

    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",") if s.strip()]


def ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol != "SSL":
        return None
    return ssl.create_default_context(cafile=settings.kafka_ssl_cafile)


def _common(settings: KafkaSettings, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.bootstrap_servers(),
        "client_id": settings.kafka_client_id or client_id,
        "security_protocol": settings.kafka_security_protocol,
        "ssl_context": ssl_context(settings),
        "request_timeout_ms": settings.kafka_request_timeout_ms,
    }


def create_producer(
    settings: KafkaSettings, *, client_id: str, **overrides: Any
) -> AIOKafkaProducer:
    """A producer that waits for all in-sync replicas. Not started: `await p.start()`."""
    options: dict[str, Any] = {
        **_common(settings, client_id),
        "acks": "all",
        "enable_idempotence": settings.kafka_enable_idempotence,
        "linger_ms": 0,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def create_consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str,
    client_id: str,
    **overrides: Any,
) -> AIOKafkaConsumer:
    """A group consumer with manual commits, starting at the earliest offset of a new group.
    Not started: `await c.start()`."""
    options: dict[str, Any] = {
        **_common(settings, client_id),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)
