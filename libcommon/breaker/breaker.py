"""An asyncio circuit breaker on top of pybreaker, with its state kept in a JSON file.

pybreaker owns the state machine (closed → open → half-open → closed), the counters and the
listeners; this module adds what pybreaker lacks for asyncio services:

* the timeout (`asyncio.timeout`) around the awaited call;
* exactly one probe after the open window: every other caller is rejected at once;
* the open → half-open decision made here, with an injectable clock (pybreaker's own check
  calls `datetime.now` and cannot be steered by tests);
* cancellation is never an outcome: a cancelled call changes nothing;
* `FileCircuitStorage`, so a restarted process keeps an open circuit;
* `opened_at` stamped from the injected clock (in the state listener, through the storage's
  public interface: no pybreaker internals are touched).

pybreaker is pinned to its minor version (>=1.4.1,<1.5): the listener order and the storage
interface are what this module relies on.

How outcomes reach pybreaker: the call is awaited first, and only its outcome (nothing, or the
exception) is replayed inside `breaker.calling()`. Wrapping the `await` itself in `calling()`
would make pybreaker see a `CancelledError`, which it can only count as a failure (opening the
circuit) or, when excluded, as a success (closing it after a cancelled probe) — both wrong.
Replaying also lets a call whose circuit changed state meanwhile (an "epoch" moved on) be
ignored instead of, say, restarting an open window that another call already started.

The storage is read at start only, and the probe gate lives in memory: one breaker per state
file per process (svc_book runs one worker per container).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import pybreaker

from libcommon.breaker.errors import CallTimeoutError, CircuitOpenError
from libcommon.breaker.metrics import BREAKER_CALLS, BREAKER_STATE
from libcommon.breaker.state_file import (
    STATE_CLOSED,
    STATE_OPEN,
    STATES,
    FileCircuitStorage,
)
from libcommon.clock import Clock, SystemClock

log = logging.getLogger("libcommon.breaker")

T = TypeVar("T")


class _StateListener(pybreaker.CircuitBreakerListener):
    def __init__(self, on_change: Callable[[str | None, str], None]) -> None:
        self._on_change = on_change

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._on_change(old_state.name if old_state else None, new_state.name)


class AsyncCircuitBreaker:
    """Guards an awaitable dependency call: timeout, fail-fast while open, one probe.

    `fail_max` is 1: the first failure (or timeout) opens the circuit. `exclude` lists
    exception types that are not the dependency's fault (e.g. it rejected this one request):
    they are re-raised but count as a success, so a probe ending that way closes the circuit.
    """

    def __init__(
        self,
        *,
        name: str,
        storage: pybreaker.CircuitBreakerStorage,
        timeout_s: float,
        reset_s: float,
        clock: Clock | None = None,
        exclude: tuple[type[Exception], ...] = (),
    ) -> None:
        if timeout_s <= 0 or reset_s <= 0:
            raise ValueError("timeout_s and reset_s must be positive")
        self.name = name
        self.timeout_s = timeout_s
        self.reset_s = reset_s
        self._clock: Clock = clock or SystemClock()
        self._storage = storage
        self._probe_in_flight = False
        self._epoch = 0
        # Monotonic time the current open window started; None until known in this process
        # (after a restart it is derived once from the stored wall-clock opened_at).
        self._opened_mono: float | None = None
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=1,
            reset_timeout=reset_s,
            exclude=list(exclude),
            listeners=[_StateListener(self._on_state_change)],
            state_storage=storage,
            name=name,
            throw_new_error_on_trip=False,
        )
        self._publish_state(self.state)

    @property
    def state(self) -> str:
        """`closed`, `open` or `half-open`, as stored (an elapsed window still reads `open`)."""
        return self._breaker.current_state

    @property
    def probe_in_flight(self) -> bool:
        return self._probe_in_flight

    @property
    def opened_at(self) -> datetime | None:
        return self._storage.opened_at

    def window_remaining_s(self) -> float:
        """Seconds left in the open window (0 when closed, half-open or elapsed)."""
        if self.state != STATE_OPEN:
            return 0.0
        if self._opened_mono is None:
            opened_at = self._storage.opened_at
            elapsed = 0.0
            if opened_at is not None:
                elapsed = (self._clock.now() - opened_at).total_seconds()
            # A wall clock that went backwards would stretch the window: never beyond reset_s.
            elapsed = min(max(elapsed, 0.0), self.reset_s)
            self._opened_mono = self._clock.monotonic() - elapsed
        elapsed_mono = self._clock.monotonic() - self._opened_mono
        return max(0.0, self.reset_s - elapsed_mono)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Await `fn()` under the breaker's rules.

        Raises `CircuitOpenError` without calling `fn` (open window, or another call is the
        probe); `CallTimeoutError` when `fn` takes longer than `timeout_s` (`.probe` tells
        whether this call was the probe); any other exception of `fn` after counting it.
        A cancelled call propagates `CancelledError` and changes no state.
        """
        probe = self._admit()
        epoch = self._epoch
        try:
            try:
                async with asyncio.timeout(self.timeout_s):
                    result = await fn()
            except TimeoutError as exc:
                timeout = CallTimeoutError(timeout_s=self.timeout_s, probe=probe)
                self._record(epoch, timeout, outcome="timeout")
                raise timeout from exc
            except Exception as exc:
                self._record(epoch, exc, outcome="failure")
                raise
            except BaseException:
                BREAKER_CALLS.labels(self.name, "cancelled").inc()
                raise
            self._record(epoch, None, outcome="success")
            return result
        finally:
            if probe:
                self._probe_in_flight = False

    def _admit(self) -> bool:
        """Let the call through (True when it is the probe) or raise CircuitOpenError."""
        state = self.state
        if state == STATE_CLOSED:
            return False
        if self._probe_in_flight:
            BREAKER_CALLS.labels(self.name, "rejected").inc()
            raise CircuitOpenError(retry_after_s=self.timeout_s, probe_in_flight=True)
        if state == STATE_OPEN:
            remaining = self.window_remaining_s()
            if remaining > 0:
                BREAKER_CALLS.labels(self.name, "rejected").inc()
                raise CircuitOpenError(retry_after_s=remaining, probe_in_flight=False)
            with self._batch():
                self._breaker.half_open()
        # Half-open with no probe in flight (just now, or a probe lost to a cancel or restart).
        self._probe_in_flight = True
        return True

    def _record(self, epoch: int, error: Exception | None, *, outcome: str) -> None:
        """Replay the outcome inside pybreaker, unless the circuit moved on meanwhile."""
        if error is not None and self._breaker.is_system_error(error):
            BREAKER_CALLS.labels(self.name, outcome).inc()
        else:
            BREAKER_CALLS.labels(self.name, "success").inc()
        if epoch != self._epoch:
            log.debug("circuit %s: stale %s outcome ignored", self.name, outcome)
            return
        with self._batch():
            try:
                with self._breaker.calling():
                    if error is not None:
                        raise error
            except Exception as replayed:
                if replayed is not error:
                    raise

    def _batch(self) -> contextlib.AbstractContextManager[None]:
        if isinstance(self._storage, FileCircuitStorage):
            return self._storage.batch()
        return contextlib.nullcontext()

    def _on_state_change(self, old: str | None, new: str) -> None:
        self._epoch += 1
        if new == STATE_OPEN:
            # pybreaker stamped opened_at with datetime.now() just before; the injected
            # clock's time replaces it (same batch: one file write).
            self._storage.opened_at = self._clock.now()
            self._opened_mono = self._clock.monotonic()
        self._publish_state(new)
        level = logging.WARNING if new == STATE_OPEN else logging.INFO
        log.log(level, "circuit %s: %s -> %s", self.name, old, new)

    def _publish_state(self, current: str) -> None:
        for state in STATES:
            BREAKER_STATE.labels(self.name, state).set(1 if state == current else 0)
