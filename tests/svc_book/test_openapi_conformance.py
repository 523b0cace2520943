"""schemathesis against a live Book service on MariaDB (and the reference engine): no 5xx,
responses match openapi.yaml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.fixtures.contract import assert_conforms
from tests.fixtures.procs import ServiceProcess


def test_book_service_conforms_to_its_openapi(
    service_process: Callable[..., ServiceProcess], mysql_database: Callable[[], str],
    tmp_path: Path,
) -> None:
    engine = service_process("recommender")
    service = service_process(
        "svc_book",
        {
            "DATABASE_URL": mysql_database(),
            "MIGRATE_ON_START": "true",
            "ACCESS_LOG": "false",
            "BREAKER_STATE_FILE": str(tmp_path / "breaker.json"),
            "RECOMMENDER_URL": engine.url,
            # A loaded CI machine must not trip the breaker (a 504 counts as a server error).
            "RECOMMENDER_TIMEOUT_S": "10",
        },
    )
    assert_conforms(f"{service.url}/openapi.json")
