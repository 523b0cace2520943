"""Running wrk and reading its results.

Each case's Lua script is composed from pieces in `scripts/bench/lua/` (report.lua first: its
`done()` prints one `BENCH_RESULT {json}` line, which is what we parse, not wrk's prose).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LUA_DIR = Path(__file__).resolve().parents[1] / "lua"
RESULT_PREFIX = "BENCH_RESULT "
MAX_THREADS = 2
# Requests slower than this count as wrk timeouts (socket errors).
TIMEOUT_S = 5
# wrk calls request() once before the run to check the script (script_verify_request);
# that request is counted as sent by the Lua counters but never goes on the wire.
VERIFY_CALLS = 1
# Write cases stop sending at the end of their window, then wait this long for the answers.
DRAIN_S = 2

MISSING_WRK = (
    "wrk is not installed. It is a Debian/Ubuntu package: `sudo apt-get install wrk` "
    "(macOS: `brew install wrk`), then run the benchmark again."
)


class WrkError(RuntimeError):
    """wrk failed or printed no result line."""


def find_wrk() -> str | None:
    return shutil.which("wrk")


def compose_script(pieces: Sequence[str], lua_dir: Path = LUA_DIR) -> str:
    """The text of one wrk script made of the named pieces (report.lua is always first)."""
    names = ["report.lua", *(p for p in pieces if p != "report.lua")]
    parts = []
    for name in names:
        parts.append(f"-- ===== {name} =====\n{(lua_dir / name).read_text(encoding='utf-8')}")
    return "\n".join(parts)


@dataclass(frozen=True)
class WrkRun:
    """One wrk invocation."""

    url: str
    connections: int
    duration_s: float
    script: Path
    headers: Mapping[str, str] = field(default_factory=dict)
    args: Mapping[str, str] = field(default_factory=dict)
    # Write cases: measure `duration_s`, then drain (see window.lua).
    windowed: bool = False

    @property
    def threads(self) -> int:
        # wrk refuses fewer connections than threads.
        return max(1, min(MAX_THREADS, self.connections))

    @property
    def wrk_duration_s(self) -> float:
        return self.duration_s + DRAIN_S if self.windowed else self.duration_s

    def command(self, wrk: str = "wrk") -> list[str]:
        cmd = [
            wrk,
            f"-t{self.threads}",
            f"-c{self.connections}",
            f"-d{_seconds(self.wrk_duration_s)}",
            f"--timeout={TIMEOUT_S}s",
            "-s",
            str(self.script),
        ]
        for name, value in self.headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd.append(self.url)
        args = dict(self.args)
        if self.windowed:
            args["window"] = _seconds(self.duration_s).rstrip("s")
        if args:
            cmd.append("--")
            cmd += [f"{key}={value}" for key, value in args.items()]
        return cmd


def _seconds(value: float) -> str:
    # wrk's -d takes whole seconds (or minutes/hours).
    return f"{max(1, round(value))}s"


@dataclass
class WrkResult:
    """What one wrk run measured. Latencies in milliseconds."""

    requests: int
    duration_s: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    non_2xx: int
    socket_errors: dict[str, int]
    statuses: dict[int, int] | None = None
    sent: int | None = None
    answered: int | None = None

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def created(self) -> int:
        """201 responses (write cases only; 0 when statuses were not counted)."""
        return (self.statuses or {}).get(201, 0)

    @property
    def unanswered(self) -> int | None:
        if self.sent is None or self.answered is None:
            return None
        return max(0, self.sent - VERIFY_CALLS - self.answered)


def parse_output(stdout: str, window_s: float | None = None) -> WrkResult:
    """Read the BENCH_RESULT line; `window_s` is given for windowed (write) runs."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith(RESULT_PREFIX)), None)
    if line is None:
        raise WrkError("wrk printed no BENCH_RESULT line:\n" + stdout[-2000:])
    raw = json.loads(line[len(RESULT_PREFIX):])
    statuses = raw.get("statuses")
    status_counts = {int(code): int(n) for code, n in statuses.items()} if statuses else None
    socket_errors = {name: int(raw[f"err_{name}"]) for name in ("connect", "read", "write",
                                                                 "timeout")}
    duration_s = raw["duration_us"] / 1e6
    if window_s is not None and raw.get("in_window") is not None:
        requests = int(raw["answered"])
        rps = raw["in_window"] / window_s
    else:
        requests = int(raw["requests"])
        rps = requests / duration_s if duration_s > 0 else 0.0
    if status_counts is not None:
        non_2xx = sum(n for code, n in status_counts.items() if not 200 <= code < 300)
    else:
        # Without per-status counts wrk reports statuses >= 400 only.
        non_2xx = int(raw["err_status"])
    return WrkResult(
        requests=requests,
        duration_s=duration_s,
        rps=rps,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["lat_max_us"] / 1000,
        mean_ms=raw["lat_mean_us"] / 1000,
        non_2xx=non_2xx,
        socket_errors=socket_errors,
        statuses=status_counts,
        sent=None if raw.get("sent") is None else int(raw["sent"]),
        answered=None if raw.get("answered") is None else int(raw["answered"]),
    )


def run(spec: WrkRun, wrk: str = "wrk") -> WrkResult:
    timeout = spec.wrk_duration_s + 30
    proc = subprocess.run(
        spec.command(wrk), capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise WrkError(f"wrk exited with {proc.returncode}: {proc.stderr.strip() or proc.stdout}")
    return parse_output(proc.stdout, spec.duration_s if spec.windowed else None)
