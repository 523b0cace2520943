"""Running scripts/deploy.sh in tests: its environment, fake cloud tools, the call."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.k8s import ROOT

SCRIPT = ROOT / "scripts" / "deploy.sh"
ACCOUNT, REGION, VERSION = "123456789012", "eu-west-1", "v9.8.7-test"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bookstore:{VERSION}"
SECRET_VALUES = ("books-Pa55word", "customers-Pa55word", "crm-Pa55word",
                 "jwt-secret-0123456789abcdef0123456789", "smtp-Pa55word")
DEPLOYMENTS = ("svc-book", "svc-customer", "crm", "bff-book", "bff-customer")


def deploy_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
        "AWS_ACCOUNT_ID": ACCOUNT, "AWS_REGION": REGION,
        "BOOK_DATABASE_URL": f"mysql+aiomysql://books:{SECRET_VALUES[0]}@db.internal:3306/books",
        "CUSTOMER_DATABASE_URL": f"mysql+aiomysql://cust:{SECRET_VALUES[1]}@db.internal:3306/customers",
        "CRM_DATABASE_URL": f"mysql+aiomysql://crm:{SECRET_VALUES[2]}@db.internal:3306/crm",
        "JWT_SECRET": SECRET_VALUES[3],
        "KAFKA_BOOTSTRAP_SERVERS": "b-1.msk.internal:9094,b-2.msk.internal:9094",
        "MAIL_FROM": "Book Store <shop@example.org>",
        "RECOMMENDER_URL": "https://engine.example.org",
        "PYTHON": sys.executable,
    }
    env.update(overrides)
    return env


@pytest.fixture
def fake_tools(tmp_path: Path) -> tuple[Path, Path]:
    """aws, docker, kubectl, eksctl, curl that only record being called (and fail)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.log"
    calls.touch()
    for name in ("aws", "docker", "kubectl", "eksctl", "curl"):
        fake = bin_dir / name
        fake.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\nexit 97\n')
        fake.chmod(0o755)
    return bin_dir, calls


def run_script(args: list[str], env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**env, "PATH": f"{bin_dir}:{env['PATH']}"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
