"""CRM configuration (environment variables; names are the field names upper-cased)."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from libcommon.events import CustomerTopicSettings
from libcommon.kafka import KafkaSettings
from libcommon.settings import DatabaseSettings, ServiceSettings

DEFAULT_STORE_OWNER = "the Bookstore team"


class Settings(ServiceSettings, DatabaseSettings, KafkaSettings, CustomerTopicSettings):
    port: int = Field(default=3002, ge=0, le=65535)
    database_url: str = "sqlite+aiosqlite:///var/crm.db"

    crm_consumer_group: str = Field(default="crm", min_length=1)
    # Dead-letter topic for malformed events; empty means "<KAFKA_CUSTOMER_TOPIC>.dlt".
    kafka_customer_dlt: str = ""
    kafka_session_timeout_ms: int = Field(default=10_000, ge=1000)
    kafka_heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    kafka_max_poll_interval_ms: int = Field(default=600_000, ge=10_000)
    # How long a fetch waits for new records. Kafka answers as soon as a record arrives, but
    # a broker that does not (the local Tansu) would add up to this much to every e-mail.
    kafka_fetch_max_wait_ms: int = Field(default=100, ge=0, le=10_000)
    # Reconnect backoff while the broker is unreachable at start-up.
    kafka_connect_backoff_max_s: float = Field(default=10.0, gt=0)
    # Records pending and none consumed for this long: /ready says 503 and the Kafka client
    # is rebuilt (above the longest expected mail retry wait, MAIL_RETRY_MAX_S).
    crm_stall_timeout_s: float = Field(default=60.0, gt=0)

    mail_backend: Literal["ses", "smtp", "file"] = "file"
    mail_dir: str = "var/mail"
    mail_from: str = "Book Store <no-reply@bookstore.local>"
    store_owner: str = Field(default=DEFAULT_STORE_OWNER, min_length=1)
    # Transient mail failures (server down, throttling) are retried with this backoff,
    # without committing the offset.
    mail_retry_initial_s: float = Field(default=0.5, gt=0)
    mail_retry_max_s: float = Field(default=30.0, gt=0)

    aws_region: str = "us-east-1"
    ses_endpoint_url: str | None = None
    ses_configuration_set: str | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int | None = Field(default=None, ge=1, le=65535)  # 25 / 587 / 465 by security
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("mail_from")
    @classmethod
    def _sender_has_an_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
            raise ValueError("must be an address like 'Book Store <no-reply@example.com>'")
        return value

    def dead_letter_topic(self) -> str:
        return self.kafka_customer_dlt or f"{self.kafka_customer_topic}.dlt"

    def smtp_port_or_default(self) -> int:
        if self.smtp_port is not None:
            return self.smtp_port
        return {"none": 25, "starttls": 587, "tls": 465}[self.smtp_security]
