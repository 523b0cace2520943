"""Circuit state in a JSON file, replaced atomically: a restarted process keeps an open circuit.

The storage is read at start only: one breaker per state file per process (svc_book runs one
worker per container).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pybreaker

log = logging.getLogger("libcommon.breaker")

STATE_CLOSED: str = pybreaker.STATE_CLOSED
STATE_OPEN: str = pybreaker.STATE_OPEN
STATE_HALF_OPEN: str = pybreaker.STATE_HALF_OPEN
STATES = (STATE_CLOSED, STATE_OPEN, STATE_HALF_OPEN)
_FILE_VERSION = 1


def _closed_record() -> dict[str, Any]:
    return {"state": STATE_CLOSED, "fail_counter": 0, "success_counter": 0, "opened_at": None}


def _parse_record(raw: bytes) -> dict[str, Any]:
    """The stored record, or ValueError when anything about it is off."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    state = data.get("state")
    if state not in STATES:
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
