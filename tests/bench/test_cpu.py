"""CPU per request: /proc readings of a process tree, and the baseline comparison table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benchkit import baseline, cpu, stack
from benchkit.report import CaseResult, describe_cpu, format_table

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n" \
       "time.sleep(30)"


@pytest.mark.slow  # starts a process
def test_cpu_of_a_tree_counts_the_busy_child() -> None:
    parent_code = ("import subprocess, sys, time; "
                   f"subprocess.Popen([sys.executable, '-c', {BURN!r}]); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", parent_code], start_new_session=True)
    try:
        before = cpu.CpuSample.take({"svc": proc.pid})
        deadline = time.monotonic() + 10
        used = 0.0
        while time.monotonic() < deadline and used < 0.25:
            time.sleep(0.1)
            used = cpu.CpuSample.take({"svc": proc.pid}).seconds_since(before)["svc"]
        assert 0.25 <= used < 5  # the child's busy loop, seen through the parent's tree
        assert len(stack.process_tree(proc.pid)) == 2
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_cpu_of_a_missing_process_is_none_and_per_request_divides() -> None:
    assert cpu.cpu_seconds(2**22 + 12345) is None
    assert (cpu.cpu_seconds(os.getpid()) or 0) > 0
    assert cpu.us_per_request({"bff_book": 0.5, "svc_book": 0.25}, 1000) == {
        "bff_book": 500.0, "svc_book": 250.0}
    assert cpu.us_per_request({"x": 1.0}, 0) == {}


def test_cpu_column_and_baseline_comparison() -> None:
    now = CaseResult("book-bff-desktop", "t", 16, 1, rps=2000, p50_ms=5, p99_ms=20,
                     cpu_us={"svc_book": 150, "bff_book": 250})
    old = CaseResult("book-bff-desktop", "t", 16, 1, rps=1000, p50_ms=10, p99_ms=40,
                     cpu_us={"svc_book": 200, "bff_book": 400})
    assert describe_cpu(now.cpu_us) == "bff_book 250 + svc_book 150 = 400"
    table = format_table([now])
    assert "bff_book 250 + svc_book 150 = 400" in table and "p99/p50" in table
    lines = baseline.format_comparison([now], [old]).splitlines()
    assert len(lines) == 2
    cells = lines[1].split()
    assert cells[:2] == ["book-bff-desktop", "16"]
    assert "2.00" in cells and "0.50" in cells  # throughput doubled; p99 halved
    assert cells[-1] == "0.67"  # CPU per request: 400 / 600


@pytest.mark.slow  # starts a process
def test_export_revision_extracts_a_tree(tmp_path: Path) -> None:
    sha = baseline.export_revision("HEAD", tmp_path / "tree")
    assert len(sha) == 40
    assert (tmp_path / "tree" / "svc_book" / "app.py").exists()
    try:
        baseline.export_revision("no-such-revision-i19", tmp_path / "bad")
    except stack.StackError as exc:
        assert "not a revision" in str(exc)
    else:
        raise AssertionError("an unknown revision must be refused")
