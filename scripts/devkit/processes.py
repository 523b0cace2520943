"""Child processes a harness starts and must always stop.

`Proc` runs one command in its own session (so the harness, not the terminal, decides when it
stops, and stopping reaches any worker it spawned); its output goes to a log file or, line by
line, to a callback. `ProcessGroup` keeps every Proc started and stops them newest first.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devkit.readiness import wait_http, wait_port

STOP_TIMEOUT_S = 15.0
LineSink = Callable[[str], None]


def die_with_parent() -> None:
    """For `preexec_fn`: the child gets SIGTERM when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Proc:
    """One child process: `start()`, `wait_http()`/`wait_port()`, `stop()`.

    `output` is a log file (appended to) or a callable receiving each output line.
    """

    name: str
    argv: list[str]
    env: Mapping[str, str]
    output: Path | LineSink
    port: int | None = None
    cwd: Path | None = None
    die_with_parent: bool = False
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def log_path(self) -> Path | None:
        return self.output if isinstance(self.output, Path) else None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> Proc:
        preexec = die_with_parent if self.die_with_parent and sys.platform == "linux" else None
        common = {"cwd": self.cwd, "env": dict(self.env), "stdin": subprocess.DEVNULL,
                  "stderr": subprocess.STDOUT, "start_new_session": True,
                  "preexec_fn": preexec}
        if isinstance(self.output, Path):
            self.output.parent.mkdir(parents=True, exist_ok=True)
            with self.output.open("ab") as log:
                self.popen = subprocess.Popen(self.argv, stdout=log, **common)  # type: ignore[call-overload]
        else:
            self.popen = subprocess.Popen(self.argv, stdout=subprocess.PIPE, **common)  # type: ignore[call-overload]
            self._pump = threading.Thread(target=self._pump_lines, args=(self.output,),
                                          name=f"{self.name}-output", daemon=True)
            self._pump.start()
        return self

    def _pump_lines(self, sink: LineSink) -> None:
        assert self.popen is not None and self.popen.stdout is not None
        for raw in self.popen.stdout:
            sink(raw.decode(errors="replace").rstrip())

    def log_tail(self, lines: int = 15) -> str:
        path = self.log_path
        return tail(path, lines) if path is not None else ""

    def wait_http(self, path: str, timeout_s: float) -> None:
        """Until `url + path` answers 200 (NotReady if the process exits or time runs out)."""
        wait_http(self.url + path, timeout_s, exited=self._exited)

    def wait_port(self, timeout_s: float) -> None:
        assert self.port is not None
        wait_port(self.port, timeout_s, exited=self._exited)

    def _exited(self) -> int | None:
        if self.popen is None:
            return -1
        return self.popen.poll()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM (services drain and stop their workers), then SIGKILL to its group."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout_s)
        # The group holds this process and any worker it spawned; it is ours (new session).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        if self._pump is not None:
            self._pump.join(2)
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL to the group at once (a second Ctrl-C)."""
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)


class ProcessGroup:
    """Every process a harness started; `stop_all` stops them newest first."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def get(self, name: str) -> Proc | None:
        """The newest running process of that name."""
        return next((p for p in reversed(self.procs) if p.name == name and p.running()), None)

    def stop(self, name: str, timeout_s: float = STOP_TIMEOUT_S) -> None:
        for proc in [p for p in self.procs if p.name == name]:
            proc.stop(timeout_s)
            self.procs.remove(proc)

    def kill_all(self) -> None:
        for proc in self.procs:
            proc.kill()

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        while self.procs:
            proc = self.procs.pop()
            try:
                proc.stop(timeout_s)
            except Exception as exc:  # keep stopping the others
                print(f"could not stop {proc.name} (pid {proc.pid}): {exc}", file=sys.stderr)
