"""The README documents every setting and opens with the two commands CI relies on."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SERVICES = ["svc_book", "svc_customer", "bff_book", "bff_customer", "crm", "recommender"]


@pytest.mark.parametrize("package", SERVICES)
def test_every_setting_is_in_the_readme_table(package: str) -> None:
    settings_cls = importlib.import_module(f"{package}.settings").Settings
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README))
    missing = sorted(
        name.upper() for name in settings_cls.model_fields if name.upper() not in documented
    )
    assert missing == [], f"{package}: add these settings to the README table: {missing}"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^exec make test$", ci, re.MULTILINE)


def test_readme_has_a_mermaid_architecture_diagram() -> None:
    assert "```mermaid" in README
