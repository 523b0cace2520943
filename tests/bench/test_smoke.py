"""The harness end to end on the floor server only (no MariaDB): a few seconds, not a benchmark.

The numbers are not asserted (the machine is shared); what is checked is that the harness
starts and stops its processes, parses wrk, and writes its reports, and that the write-case
bookkeeping (201s counted by the Lua script) matches what the server really received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from benchkit import stack, wrk
from devkit.ports import free_port, port_in_use

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(wrk.find_wrk() is None, reason="wrk is not installed")]


def test_smoke_run_of_the_floor_case_writes_table_json_and_chart(tmp_path: Path) -> None:
    floor_port = free_port()
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "scripts/bench.py", "--smoke", "--cases", "floor", "--out", str(out),
         "--base-port", str(floor_port - 90)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((out / "results.json").read_text())
    (floor,) = data["results"]
    assert floor["case"] == "floor" and floor["status"] == "ok" and floor["connections"] == 4
    assert floor["requests"] > 0 and floor["rps"] > 0 and floor["non_2xx"] == 0
    assert (out / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "floor" in proc.stdout and "targets" in proc.stdout
    # Every process it started is gone.
    assert not port_in_use(floor_port)


@pytest.mark.parametrize("piece", ["post_book.lua", "post_customer.lua"])
def test_post_script_counts_exactly_the_requests_the_server_received(tmp_path: Path, piece: str) -> None:
    port = free_port()
    floor = stack.floor_proc(port, tmp_path).start()
    try:
        floor.wait_http("/_count", 15)
        script = tmp_path / "post.lua"
        script.write_text(wrk.compose_script(["window.lua", piece]))
        spec = wrk.WrkRun(f"http://127.0.0.1:{port}", 4, 1, script,
                          headers={"Content-Type": "application/json"},
                          args={"nonce": "abc123"}, windowed=True)
        result = wrk.run(spec, wrk.find_wrk() or "wrk")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_count", timeout=5) as response:
            received = json.load(response)
    finally:
        floor.stop()
    assert result.created > 0
    assert result.statuses == {201: result.created}
    # Every request reached the server, each with its own ISBN.
    assert received == {"posts": result.created, "distinct_keys": result.created}
    assert result.unanswered == 0


def test_missing_wrk_says_how_to_install_it(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--cases", "floor"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2
    assert "apt-get install wrk" in proc.stderr
