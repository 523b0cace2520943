"""Transactional outbox: events are written with the business row, relayed to Kafka later.

- `store`: `enqueue(tx, ...)` inside the caller's transaction (the event exists exactly when
  the entity does), and the relay's dialect-specific SQL (`OutboxStore`);
- `relay`: `OutboxRelay`, publishing pending rows in id order with capped backoff;
- `settings`, `metrics`: `OutboxSettings` (OUTBOX_*), the `outbox_*` Prometheus series;
- `unit_of_work`: `OutboxUnitOfWork`, a transaction whose after-commit hook wakes the relay;
- `app`: `outbox_relay_ctx`, the relay as a cleanup context, and `OUTBOX_RELAY_KEY`.

Import from the module that owns a name: importing `store` alone (a writer) registers no
relay gauges.
"""
