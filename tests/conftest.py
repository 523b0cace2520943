"""Shared pytest plugins: real MariaDB, Kafka (Tansu), SES (moto), SMTP (aiosmtpd), processes."""

import os
from collections.abc import Generator
from typing import Any

import pytest

os.environ.setdefault("LOG_FORMAT", "text")

pytest_plugins = [
    "tests.fixtures.levels",
    "tests.fixtures.browser",
    "tests.fixtures.mariadb",
    "tests.fixtures.procs",
    "tests.fixtures.kafka",
    "tests.fixtures.mail",
    "tests.fixtures.otlp",
    "tests.fixtures.redis",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """Under CI a skip is a failure: `make test` installs every tool, so a skip hides a gap."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a tool or service is missing?): {report.longrepr}"
