"""The relay's Prometheus series (exported only by processes that import the relay)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# With WORKERS > 1 every worker runs a relay over the same table: show the largest view.
PENDING = Gauge("outbox_pending_events", "Outbox rows not yet acknowledged by the broker",
                multiprocess_mode="livemax")
OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest unsent outbox row (0 when none)",
    multiprocess_mode="livemax",
)
PUBLISHED = Counter("outbox_published_total", "Outbox rows published to Kafka")
PUBLISH_FAILURES = Counter("outbox_publish_failures_total", "Failed relay passes (broker errors)")
BROKER_CONNECTED = Gauge("outbox_broker_connected", "1 when the relay's producer is connected",
                         multiprocess_mode="livemin")
