"""`python -m <package> --help` prints every setting with its default and exits."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test starts a process

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORTS = {"svc_book": 3000, "svc_customer": 3001, "crm": 3002, "recommender": 3003,
                 "bff_book": 8080, "bff_customer": 8081}
SECRET = "a-secret-that-help-must-never-print-0123456789"


@pytest.mark.parametrize("package", sorted(DEFAULT_PORTS))
def test_help_lists_every_setting_with_its_default(package: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JWT_SECRET": SECRET, "SMTP_PASSWORD": SECRET,
           "PORT": "not-a-port"}  # --help reads nothing from the environment
    result = subprocess.run([sys.executable, "-m", package, "--help"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"usage: python -m {package}")
    settings_cls = importlib.import_module(f"{package}.settings").Settings
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")
             and line.split()[0].isupper()}
    assert set(lines) == {name.upper() for name in settings_cls.model_fields}
    assert lines["PORT"].split()[1] == str(DEFAULT_PORTS[package])
    assert lines["LOG_LEVEL"].split()[1] == "INFO"
    assert SECRET not in out and not result.stderr


def test_an_unknown_argument_is_refused() -> None:
    result = subprocess.run([sys.executable, "-m", "recommender", "--port", "1"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "unrecognized arguments: --port 1" in result.stderr
