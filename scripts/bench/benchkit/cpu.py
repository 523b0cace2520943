"""CPU time of the processes under test, read from /proc, as µs of CPU per request.

A service's CPU is its own and its workers' (every descendant's) user + system time. Read
before and after the measured run; the difference over the requests of that run is the cost of
one request in that process, whatever the throughput (a figure that does not move when the
machine is shared the way req/s does).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from benchkit.stack import process_tree

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (children that exited are not included), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            raw = stat.read().decode(errors="replace")
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = raw[raw.rfind(")") + 2:].split()
    # Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of `pid` and each of its live descendants."""
    out: dict[int, float] = {}
    for member in process_tree(pid):
        seconds = cpu_seconds(member)
        if seconds is not None:
            out[member] = seconds
    return out


@dataclass
class CpuSample:
    """CPU seconds per named process tree at one moment (per pid, so that a worker that
    appears or dies between two samples is counted only for the time it was seen)."""

    trees: dict[str, dict[int, float]] = field(default_factory=dict)

    @classmethod
    def take(cls, pids: Mapping[str, int]) -> CpuSample:
        return cls({name: tree_cpu_seconds(pid) for name, pid in pids.items()})

    def seconds_since(self, before: CpuSample) -> dict[str, float]:
        used: dict[str, float] = {}
        for name, after in self.trees.items():
            earlier = before.trees.get(name, {})
            used[name] = sum(max(0.0, s - earlier.get(pid, 0.0)) for pid, s in after.items())
        return used


def us_per_request(used_s: Mapping[str, float], requests: int) -> dict[str, float]:
    if requests <= 0:
        return {}
    return {name: round(1e6 * seconds / requests, 1) for name, seconds in used_s.items()}

