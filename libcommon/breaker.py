"""An asyncio circuit breaker on top of pybreaker, with its state kept in a JSON file.

pybreaker owns the state machine (closed → open → half-open → closed), the counters and the
listeners; this module adds what pybreaker lacks for asyncio services:

* the timeout (`asyncio.timeout`) around the awaited call;
* exactly one probe after the open window: every other caller is rejected at once;
* the open → half-open decision made here, with an injectable clock (pybreaker's own check
  calls `datetime.now` and cannot be steered by tests);
* cancellation is never an outcome: a cancelled call changes nothing;
* `FileCircuitStorage`, so a restarted process keeps an open circuit.

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
import json
import logging
import math
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pybreaker
from prometheus_client import Counter, Gauge

from libcommon.clock import Clock, SystemClock

log = logging.getLogger("libcommon.breaker")

T = TypeVar("T")

STATE_CLOSED: str = pybreaker.STATE_CLOSED
STATE_OPEN: str = pybreaker.STATE_OPEN
STATE_HALF_OPEN: str = pybreaker.STATE_HALF_OPEN
_STATES = (STATE_CLOSED, STATE_OPEN, STATE_HALF_OPEN)
_FILE_VERSION = 1

BREAKER_STATE = Gauge(
    "circuit_breaker_state", "1 for the circuit's current state, 0 for the others",
    ["name", "state"],
)
BREAKER_CALLS = Counter(
    "circuit_breaker_calls_total",
    "Calls through the circuit breaker by outcome "
    "(success, failure, timeout, rejected, cancelled)",
    ["name", "outcome"],
)


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


def _closed_record() -> dict[str, Any]:
    return {"state": STATE_CLOSED, "fail_counter": 0, "success_counter": 0, "opened_at": None}


def _parse_record(raw: bytes) -> dict[str, Any]:
    """The stored record, or ValueError when anything about it is off."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    state = data.get("state")
    if state not in _STATES:
        raise ValueError(f"unknown state {state!r}")
    counters = {}
    for key in ("fail_counter", "success_counter"):
        value = data.get(key, 0)
        if type(value) is not int or value < 0:
            raise ValueError(f"{key} is not a non-negative integer")
        counters[key] = value
    opened_raw = data.get("opened_at")
    opened_at: datetime | None = None
    if opened_raw is not None:
        if not isinstance(opened_raw, str):
            raise ValueError("opened_at is not a string")
        opened_at = datetime.fromisoformat(opened_raw)
        if opened_at.tzinfo is None:
            raise ValueError("opened_at has no timezone")
        opened_at = opened_at.astimezone(UTC)
    if state != STATE_CLOSED and opened_at is None:
        raise ValueError(f"state {state} without opened_at")
    return {"state": state, **counters, "opened_at": opened_at}


class FileCircuitStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker storage backed by a JSON file, replaced atomically on every change.

    The file is read once, here; a missing, unreadable or corrupt file means "closed" and is
    logged as a warning. Writes go to a temporary file in the same directory, are fsynced and
    renamed over the old one, so a crash leaves either the old or the new state, never a torn
    file. A failed write is logged and the in-memory state carries on: the breaker must keep
    protecting the service even on a read-only disk.
    """

    def __init__(self, path: str | os.PathLike[str], *, name: str = "circuit") -> None:
        super().__init__(name)
        self.path = Path(path)
        self._data = self._load()
        self._batch_depth = 0
        self._dirty = False

    def _load(self) -> dict[str, Any]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            log.warning("circuit %s: no state file at %s, starting closed", self.name, self.path)
            return _closed_record()
        except OSError as exc:
            log.warning("circuit %s: cannot read %s (%s), starting closed",
                        self.name, self.path, exc)
            return _closed_record()
        try:
            record = _parse_record(raw)
        except (ValueError, TypeError) as exc:
            log.warning("circuit %s: corrupt state file %s (%s), starting closed",
                        self.name, self.path, exc)
            return _closed_record()
        log.info("circuit %s: state %s loaded from %s", self.name, record["state"], self.path)
        return record

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group several changes (one state transition) into a single file write."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0 and self._dirty:
                self._save()

    def _set(self, key: str, value: Any) -> None:
        if self._data[key] == value:
            return  # the common success path writes nothing
        self._data[key] = value
        self._dirty = True
        if self._batch_depth == 0:
            self._save()

    def _save(self) -> None:
        self._dirty = False
        opened_at = self._data["opened_at"]
        record = {
            "version": _FILE_VERSION,
            "name": self.name,
            **self._data,
            "opened_at": opened_at.isoformat() if opened_at is not None else None,
        }
        payload = json.dumps(record, indent=1).encode()
        tmp_name: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(
                dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, self.path)
            tmp_name = None
            self._fsync_dir()
        except OSError:
            log.exception("circuit %s: cannot write %s; state kept in memory only",
                          self.name, self.path)
        finally:
            if tmp_name is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_name)

    def _fsync_dir(self) -> None:
        # The rename is durable only once the directory entry is on disk.
        try:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    @property
    def state(self) -> str:
        state: str = self._data["state"]
        return state

    @state.setter
    def state(self, state: str) -> None:
        self._set("state", state)

    def increment_counter(self) -> None:
        self._set("fail_counter", self._data["fail_counter"] + 1)

    def reset_counter(self) -> None:
        self._set("fail_counter", 0)

    def increment_success_counter(self) -> None:
        self._set("success_counter", self._data["success_counter"] + 1)

    def reset_success_counter(self) -> None:
        self._set("success_counter", 0)

    @property
    def counter(self) -> int:
        value: int = self._data["fail_counter"]
        return value

    @property
    def success_counter(self) -> int:
        value: int = self._data["success_counter"]
        return value

    @property
    def opened_at(self) -> datetime | None:
        value: datetime | None = self._data["opened_at"]
        return value

    @opened_at.setter
    def opened_at(self, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("opened_at must be timezone-aware")
        self._set("opened_at", value.astimezone(UTC))


class _ClockedCircuitBreaker(pybreaker.CircuitBreaker):
    """pybreaker's breaker, stamping `opened_at` from the injected clock."""

    def __init__(self, *, clock: Clock, **kwargs: Any) -> None:
        self._clock = clock
        super().__init__(**kwargs)

    def open(self) -> bool:
        with self._lock:
            self._state_storage.opened_at = self._clock.now()
            self.state = self._state_storage.state = STATE_OPEN  # type: ignore[assignment]
            return self._throw_new_error_on_trip


class _StateListener(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: AsyncCircuitBreaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._owner._on_state_change(old_state.name if old_state else None, new_state.name)


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
        self._breaker = _ClockedCircuitBreaker(
            clock=self._clock,
            fail_max=1,
            reset_timeout=reset_s,
            exclude=list(exclude),
            listeners=[_StateListener(self)],
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
            self._opened_mono = self._clock.monotonic()
        self._publish_state(new)
        level = logging.WARNING if new == STATE_OPEN else logging.INFO
        log.log(level, "circuit %s: %s -> %s", self.name, old, new)

    def _publish_state(self, current: str) -> None:
        for state in _STATES:
            BREAKER_STATE.labels(self.name, state).set(1 if state == current else 0)


def retry_after_header(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
