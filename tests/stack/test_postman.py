"""The Postman collection (docs/postman/): generated from scripts/postman.py, covers every BFF
route, and newman runs it against the local stack (scripts/run_local.py) without a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import postman  # noqa: E402

RUN_LOCAL = ROOT / "scripts" / "run_local.py"
PORT_FLAGS = ("--s3-port", "--kafka-port", "--engine-port", "--book-port", "--customer-port", "--crm-port",
              "--book-bff-port", "--customer-bff-port")
# Overrides that would point the stack at other infrastructure; the test wants the defaults.
OVERRIDES = ("KAFKA_BOOTSTRAP_SERVERS", "RECOMMENDER_URL", "JWT_SECRET", "JWT_ISSUER",
             "JWT_ALLOWED_SUBJECTS", "BOOK_DATABASE_URL", "CUSTOMER_DATABASE_URL",
             "CRM_DATABASE_URL", "DATABASE_URL", "MAIL_BACKEND", "MAIL_DIR", "LOCAL_VAR_DIR",
             "MIGRATE_ON_START", "BREAKER_STATE_FILE")
BASES = {"{{bookBaseUrl}}": ROOT / "bff_book" / "openapi.yaml",
         "{{customerBaseUrl}}": ROOT / "bff_customer" / "openapi.yaml"}


def _requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        found += _requests(item["item"]) if "item" in item else [item]
    return found


def test_the_committed_files_are_what_the_generator_writes() -> None:
    assert postman.main(["--check"]) == 0, "run: python scripts/postman.py"


def test_every_route_of_both_bffs_is_called_desktop_and_mobile() -> None:
    requests = _requests(postman.collection()["item"])
    for base, spec_path in BASES.items():
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
        called = [(r["request"]["method"], r["request"]["url"].removeprefix(base).split("?")[0],
                   any(h["key"] == "User-Agent" and "Mobile" in h["value"]
                       for h in r["request"]["header"]))
                  for r in requests if r["request"]["url"].startswith(base)]
        for path, item in spec["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
            for method in (m for m in item if m in {"get", "put", "post", "delete"}):
                hits = [mobile for m, p, mobile in called
                        if m == method.upper() and pattern.match(p)]
                assert hits, f"{method.upper()} {path} is not in the collection"
                shaped = "Shaped" in json.dumps(item[method].get("responses", {}).get("200", {}))
                if shaped or "mobile" in item[method].get("summary", "").lower():
                    assert any(hits), f"{method.upper()} {path}: no mobile request"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env["NO_COLOR"] = "1"
    return env


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_newman_runs_the_collection_against_the_local_stack(tmp_path: Path) -> None:
    newman = shutil.which("newman")
    if newman is None:
        pytest.skip("newman is not installed (scripts/install-test-tools.sh)")
    ports = {flag: free_port() for flag in PORT_FLAGS}
    argv = [sys.executable, str(RUN_LOCAL), "--no-seed", "--var-dir", str(tmp_path / "var")]
    for flag, port in ports.items():
        argv += [flag, str(port)]
    stack = subprocess.Popen(argv, cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    token_seen = threading.Event()

    def pump() -> None:
        assert stack.stdout is not None
        for line in stack.stdout:
            lines.append(line)
            if line.strip().startswith("export TOKEN="):
                token_seen.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert token_seen.wait(150), "".join(lines)[-4000:]
        token = next(line.strip().removeprefix("export TOKEN=") for line in lines
                     if line.strip().startswith("export TOKEN="))
        report = tmp_path / "newman.json"
        started = time.monotonic()
        result = subprocess.run([
            newman, "run", str(postman.COLLECTION), "-e", str(postman.ENVIRONMENT),
            "--env-var", f"token={token}",
            "--env-var", f"bookBaseUrl=http://127.0.0.1:{ports['--book-bff-port']}",
            "--env-var", f"customerBaseUrl=http://127.0.0.1:{ports['--customer-bff-port']}",
            "--reporters", "cli,json", "--reporter-json-export", str(report),
            "--color", "off", "--timeout-request", "10000",
        ], cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        stats = json.loads(report.read_text())["run"]["stats"]
        summary = (f"newman: {stats['requests']['total']} requests "
                   f"({stats['requests']['failed']} failed), {stats['assertions']['total']} "
                   f"assertions ({stats['assertions']['failed']} failed) in {elapsed:.1f}s")
        print(summary)
        assert stats["requests"]["failed"] == 0 and stats["assertions"]["failed"] == 0, summary
        expected = len(_requests(postman.collection()["item"]))
        assert stats["requests"]["total"] == expected, summary
        assert stats["assertions"]["total"] >= 3 * expected, summary
    finally:
        if stack.poll() is None:
            stack.send_signal(signal.SIGTERM)
            try:
                stack.wait(30)
            except subprocess.TimeoutExpired:
                stack.kill()
                stack.wait()
        reader.join(5)
