"""The README documents every setting and opens with the two commands CI relies on."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys
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


# Paths the README shows that are created at run time, not tracked.
RUNTIME_PATHS = ("var/", "bench-results/", ".venv/")


def readme_paths() -> list[str]:
    """Backticked tokens that name a file or folder of this repository."""
    found = []
    for token in re.findall(r"`([^`\s]+)`", README):
        token = token.rstrip(",.;:")
        if ("://" in token or token.startswith(("-", "$", "<", "/", "...")) or "*" in token
                or "=" in token):
            continue
        looks_like_path = "/" in token or re.search(r"\.(py|sh|md|ya?ml|lock|json|toml|in)$", token)
        if looks_like_path and not any(token.startswith(p) for p in RUNTIME_PATHS):
            found.append(token)
    return sorted(set(found))


def test_the_readme_points_only_inside_the_repository() -> None:
    """A new user has the repository, not its neighbours (the contract lives in docs/API.md)."""
    assert re.findall(r"(?<!\.)\.\./\w", README) == []


@pytest.mark.parametrize("path", readme_paths())
def test_every_path_the_readme_names_exists(path: str) -> None:
    """A path relative to the root (or to scripts/, docs/, manifests/), or a bare file or folder name
    that exists somewhere in the tree (e.g. `routes.py` in the service-shape description)."""
    candidates = [ROOT / path, *(ROOT / folder / path for folder in ("scripts", "docs", "manifests"))]
    name = path.rstrip("/")
    exists = any(c.exists() for c in candidates) or (
        "/" not in name and any(p for p in ROOT.rglob(name) if ".venv" not in p.parts))
    assert exists, f"README names {path!r}, which is not in the repository"


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", README))
    assert named and named <= targets, f"README names make targets that do not exist: {named - targets}"
    for target in targets - {"clean"}:
        assert re.search(rf"^{target}:.*## ", makefile, re.MULTILINE), f"{target} has no help text"


def test_every_package_the_readme_runs_with_python_m_exists() -> None:
    packages = {p.rstrip(".") for p in re.findall(r"python -m ([a-z_.]+)", README)} - {""}
    packages |= set(re.findall(r"`(svc_book|svc_customer|bff_book|bff_customer|crm|recommender)`", README))
    assert {"libcommon.migrate", "svc_book"} <= packages
    for package in packages:
        spec = importlib.util.find_spec(package if "." in package else f"{package}.__main__")
        assert spec is not None, f"README runs python -m {package}, which does not exist"


@pytest.mark.slow  # starts a process
def test_the_local_run_help_the_readme_shows_runs() -> None:
    result = subprocess.run([sys.executable, "scripts/run_local.py", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    for option in ("--no-seed", "--check", "--var-dir"):
        assert option in result.stdout
