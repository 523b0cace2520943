"""The alerting rules pass `promtool check rules`, and `promtool test rules` proves each alert
fires when it should and stays quiet when it should not (tests/monitoring/alerts_test.yml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.monitoring.rules import PROMTOOL_TESTS, alerts, write_rules

PROMTOOL = shutil.which("promtool") or "promtool"
EXPECTED_ALERTS = {
    "BookstoreCircuitOpen", "BookstoreOutboxLagging", "BookstoreDeadLetters",
    "BookstoreHighErrorRatio", "BookstoreHighLatencyP99", "BookstoreCrmNotConsuming",
    "BookstoreCrmDisconnected",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_issue_s_alerts_exist_with_severity_and_summary() -> None:
    rules = alerts()
    assert set(rules) == EXPECTED_ALERTS
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


@pytest.mark.slow  # starts a process
def test_promtool_check_rules(tmp_path: Path) -> None:
    result = _promtool("check", "rules", str(write_rules(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout


@pytest.mark.slow  # starts a process
def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    write_rules(tmp_path)
    shutil.copy(PROMTOOL_TESTS, tmp_path / PROMTOOL_TESTS.name)
    result = _promtool("test", "rules", str(tmp_path / PROMTOOL_TESTS.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    tests = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


@pytest.mark.slow  # starts a process
def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A rule made stricter than its test expects is caught (the runner is not a no-op)."""
    path = write_rules(tmp_path)
    path.write_text(path.read_text().replace("> 120", "> 100000"))
    shutil.copy(PROMTOOL_TESTS, tmp_path / PROMTOOL_TESTS.name)
    result = _promtool("test", "rules", str(tmp_path / PROMTOOL_TESTS.name))
    assert result.returncode != 0
    assert "BookstoreOutboxLagging" in result.stdout + result.stderr
