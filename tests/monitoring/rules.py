"""The alerting rules as a plain Prometheus rule file, taken from the PrometheusRule in the eks
overlay (their only definition). `python -m tests.monitoring.rules DIR` writes DIR/bookstore-rules.yml."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING_MANIFEST = ROOT / "manifests" / "overlays" / "eks" / "monitoring.yaml"
DASHBOARD = ROOT / "manifests" / "overlays" / "eks" / "dashboards" / "bookstore.json"
PROMTOOL_TESTS = Path(__file__).with_name("alerts_test.yml")
RULES_FILE_NAME = "bookstore-rules.yml"


def monitoring_resources() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MONITORING_MANIFEST.read_text()) if doc]


def rule_groups() -> dict[str, Any]:
    (rule,) = [r for r in monitoring_resources() if r["kind"] == "PrometheusRule"]
    groups: dict[str, Any] = rule["spec"]
    return groups


def alerts() -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for group in rule_groups()["groups"] for rule in group["rules"]
            if "alert" in rule}


def write_rules(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RULES_FILE_NAME
    path.write_text(yaml.safe_dump(rule_groups(), sort_keys=False))
    return path


if __name__ == "__main__":
    print(write_rules(Path(sys.argv[1])))
