"""The module structure holds: libcommon imports no service, services own their rules, no
import cycles in the database package, and a consumer does not drag in the outbox relay."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from libcommon.migrate import packages_with_migrations

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("bff_book", "bff_customer", "svc_book", "svc_customer", "crm", "recommender")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_libcommon_imports_no_service_package() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name for name in imported_modules(path) if name.split(".")[0] in SERVICES
        )
        for path in (ROOT / "libcommon").rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_no_service_imports_another_service() -> None:
    offenders = {}
    for service in SERVICES:
        for path in (ROOT / service).rglob("*.py"):
            others = sorted(
                name for name in imported_modules(path)
                if name.split(".")[0] in SERVICES and name.split(".")[0] != service
            )
            if others:
                offenders[str(path.relative_to(ROOT))] = others
    assert offenders == {}


def test_database_url_module_imports_no_adapter() -> None:
    assert not {"libcommon.db.mysql", "libcommon.db.sqlite", "libcommon.db.base"} & (
        imported_modules(ROOT / "libcommon" / "db" / "url.py")
    )


def test_kafka_module_does_not_import_the_event_schema() -> None:
    assert "libcommon.events" not in imported_modules(ROOT / "libcommon" / "kafka.py")


def test_mobile_rules_live_in_the_bffs_not_in_libcommon() -> None:
    source = (ROOT / "libcommon" / "client_type.py").read_text(encoding="utf-8")
    assert '"non-fiction"' not in source and "zipcode" not in source


def test_migrations_are_discovered_not_listed() -> None:
    assert packages_with_migrations(ROOT) == ["crm", "svc_book", "svc_customer"]


def test_packages_with_migrations_skips_folders_without_env(tmp_path: Path) -> None:
    (tmp_path / "owner" / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "owner" / "__init__.py").write_text("")
    (tmp_path / "owner" / "migrations" / "env.py").write_text("")
    (tmp_path / "half" / "migrations").mkdir(parents=True)
    (tmp_path / "half" / "__init__.py").write_text("")
    assert packages_with_migrations(tmp_path) == ["owner"]


@pytest.mark.slow
def test_crm_does_not_load_the_outbox_relay_or_its_gauges() -> None:
    # A fresh interpreter: in this one other tests have imported the relay already.
    probe = (
        "import sys, crm.app; "
        "loaded = sorted(m for m in sys.modules if m.startswith('libcommon.outbox')); "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
