"""Process bookkeeping (RSS, process trees) and the token the harness gives the BFFs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from benchkit import stack
from benchkit.plan import make_token
from devkit.processes import Proc

from libcommon.jwt_auth import DEFAULT_ALLOWED_SUBJECTS, JwtVerifier, parse_subjects


def test_token_is_accepted_by_the_bff_verifier() -> None:
    secret = "bench-harness-test-secret-0123456789abcdef"
    verifier = JwtVerifier(secret=secret, issuer="cmu.edu",
                           allowed_subjects=parse_subjects(DEFAULT_ALLOWED_SUBJECTS))
    claims = verifier.verify(make_token(secret))
    assert claims["sub"] == "starlord"
    assert claims["exp"] > time.time() + 86400


@pytest.mark.slow  # starts a process
def test_memory_report_covers_worker_children() -> None:
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', " \
           "'import time; time.sleep(30)']); time.sleep(30)"
    proc = Proc("parent", [sys.executable, "-c", code], dict(os.environ),
                      stack.BENCH_DIR / "unused.log")
    proc.popen = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(stack.process_tree(proc.popen.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        rows = stack.memory_report(proc)
        assert [r["role"] for r in rows] == ["main", "child"]
        assert all(float(r["rss_mb"]) > 1 for r in rows)
    finally:
        proc.stop(timeout_s=2)
    # Stopping kills the whole group: the child is gone too (SIGKILL lands asynchronously).
    assert stack.memory_report(proc) == []
    child = int(rows[1]["pid"])
    deadline = time.monotonic() + 5
    while stack.rss_kib(child) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.rss_kib(child) is None


def test_rss_of_a_missing_process_is_none() -> None:
    assert stack.rss_kib(os.getpid()) > 0  # type: ignore[operator]
    assert stack.rss_kib(2**22 + 12345) is None
