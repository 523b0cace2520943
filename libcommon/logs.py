"""Structured JSON logs carrying the request id of the request being served, and with tracing
on (libcommon.tracing) the trace and span ids of the current span."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
# Set by libcommon.tracing.setup_tracing: (trace id, span id) of the current span, or None.
# None when tracing is off, so a log line then costs one global lookup more.
trace_ids_hook: Callable[[], tuple[str, str] | None] | None = None


# Text logs: a control character from a client (`%0d%0a` in a path) must not start a forged
# line. C0 and C1 controls, DEL and the Unicode line/paragraph separators become \xNN/\uNNNN.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_CONTROLS |= {0x2028: "\\u2028", 0x2029: "\\u2029"}
_ESCAPE_TABLE = str.maketrans(_CONTROLS)


def escape_controls(text: str) -> str:
    """`text` with every control character written as an escape: always one line."""
    return text.translate(_ESCAPE_TABLE)


def _trace_ids() -> tuple[str, str] | None:
    return trace_ids_hook() if trace_ids_hook is not None else None


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        ids = _trace_ids()
        if ids is not None:
            entry["trace_id"], entry["span_id"] = ids
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """One line per record: control characters in the message escaped; a traceback's lines
    indented (so no text inside an exception message can start a line of its own)."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        text = super().formatException(ei)
        return "\n".join("    " + escape_controls(line) for line in text.split("\n"))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        if request_id:
            line = f"{line} [rid={request_id}]"
        ids = _trace_ids()
        return f"{line} [trace={ids[0]}]" if ids is not None else line


def setup_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class AccessLog:
    """Access log lines written in batches: one write per `flush_interval_s` or 64 KiB.

    A logging record, a handler lock and a flush per request cost about 15 % of a point GET's
    CPU; lines appear at most `flush_interval_s` late instead, and are flushed at shutdown.
    """

    def __init__(
        self,
        service: str,
        fmt: str = "json",
        stream: BinaryIO | None = None,
        flush_interval_s: float = 0.25,
        max_buffer: int = 65536,
    ) -> None:
        self._service = service
        self._json = fmt == "json"
        self._stream = stream
        self._interval = flush_interval_s
        self._max = max_buffer
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._stamp = ""

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # strftime once per second, not per request
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"

    def log(self, method: str, path: str, status: int, ms: float, request_id: str) -> None:
        stamp = self._timestamp(time.time())
        message = f"{method} {path} {status} {ms:.1f}ms"
        ids = _trace_ids()
        if self._json:
            entry = {
                "ts": stamp, "level": "INFO", "service": self._service, "logger": "access",
                "msg": message, "request_id": request_id, "status": status, "ms": round(ms, 2),
            }
            if ids is not None:
                entry["trace_id"], entry["span_id"] = ids
            self._buffer += orjson.dumps(entry)
            self._buffer += b"\n"
        else:
            trace = f" [trace={ids[0]}]" if ids is not None else ""
            message = escape_controls(message)
            self._buffer += (
                f"{stamp} {self._service} INFO access: {message} [rid={request_id}]{trace}\n"
            ).encode()
        if len(self._buffer) >= self._max:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        stream = self._stream or sys.stderr.buffer
        try:
            stream.write(self._buffer)
            stream.flush()
        except (OSError, ValueError):  # a closed stderr must not fail requests
            pass
        self._buffer.clear()
