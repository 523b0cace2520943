"""An asyncio circuit breaker on pybreaker's state machine, its state kept in a JSON file.

- `breaker`: `AsyncCircuitBreaker` (timeout, fail-fast while open, exactly one probe);
- `state_file`: `FileCircuitStorage` (atomic JSON file) and the state names;
- `errors`: `CircuitOpenError`, `CallTimeoutError`; `metrics`: the `circuit_breaker_*` series.
"""

from libcommon.breaker.breaker import AsyncCircuitBreaker
from libcommon.breaker.errors import CallTimeoutError, CircuitOpenError
from libcommon.breaker.state_file import (
    STATE_CLOSED,
    STATE_HALF_OPEN,
    STATE_OPEN,
    FileCircuitStorage,
)

__all__ = [
    "STATE_CLOSED",
    "STATE_HALF_OPEN",
    "STATE_OPEN",
    "AsyncCircuitBreaker",
    "CallTimeoutError",
    "CircuitOpenError",
    "FileCircuitStorage",
]
