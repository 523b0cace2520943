"""What a call through the breaker raises besides the dependency's own errors."""

from __future__ import annotations


class CircuitOpenError(Exception):
    """The call was refused without calling the dependency (open window, or probe in flight)."""

    def __init__(self, *, retry_after_s: float, probe_in_flight: bool) -> None:
        reason = "a probe is in flight" if probe_in_flight else "circuit open"
        super().__init__(f"{reason}; retry in {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s
        self.probe_in_flight = probe_in_flight


class CallTimeoutError(Exception):
    """The call did not finish within the timeout (it has been cancelled and counted)."""

    def __init__(self, *, timeout_s: float, probe: bool) -> None:
        super().__init__(f"call timed out after {timeout_s}s" + (" (probe)" if probe else ""))
        self.timeout_s = timeout_s
        self.probe = probe
