"""The breaker's Prometheus series."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

BREAKER_STATE = Gauge(
    "circuit_breaker_state", "1 for the circuit's current state, 0 for the others",
    ["name", "state"],
    multiprocess_mode="livemax",
)
BREAKER_CALLS = Counter(
    "circuit_breaker_calls_total",
    "Calls through the circuit breaker by outcome "
    "(success, failure, timeout, rejected, cancelled)",
    ["name", "outcome"],
)
