"""Waiting until a started process serves: bounded polls that fail with the reason."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

Probe = Callable[[], tuple[bool, str]]


class NotReady(RuntimeError):
    """The process exited, or did not become ready in time (the message says why)."""


def http_ok(url: str, timeout_s: float = 1.0) -> tuple[bool, str]:
    """(True, "HTTP 200") when `url` answers 200, else False and what happened instead."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode(errors="replace")
        return False, f"HTTP {exc.code} {body}"
    except OSError as exc:
        return False, str(exc)


def accepts_connections(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5
                        ) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True, "ok"
    except OSError as exc:
        return False, f"port {port}: {exc.strerror or exc}"


def wait_until(
    probe: Probe,
    *,
    what: str,
    timeout_s: float,
    exited: Callable[[], int | None] = lambda: None,
    interval_s: float = 0.05,
) -> None:
    """Poll `probe` until it succeeds; NotReady when `exited()` gives an exit code first or
    the time is up."""
    deadline = time.monotonic() + timeout_s
    reason = "no answer"
    while True:
        code = exited()
        if code is not None:
            raise NotReady(f"exited with code {code} before {what} was ready")
        ok, reason = probe()
        if ok:
            return
        if time.monotonic() >= deadline:
            raise NotReady(f"{what} not ready after {timeout_s:.0f}s ({reason})")
        time.sleep(interval_s)


def wait_http(url: str, timeout_s: float = 20.0,
              exited: Callable[[], int | None] = lambda: None) -> None:
    wait_until(lambda: http_ok(url), what=url, timeout_s=timeout_s, exited=exited)


def wait_port(port: int, timeout_s: float = 20.0, host: str = "127.0.0.1",
              exited: Callable[[], int | None] = lambda: None) -> None:
    wait_until(lambda: accepts_connections(port, host), what=f"{host}:{port}",
               timeout_s=timeout_s, exited=exited)
