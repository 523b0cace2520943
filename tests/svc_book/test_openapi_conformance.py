"""schemathesis against a live Book service on MariaDB (and the reference engine): no 5xx,
responses match openapi.yaml.

`positive_data_acceptance` is excluded: schema-valid requests are legitimately refused by
business rules the schema cannot express (duplicate ISBN → 422, body/path ISBN mismatch,
cursors that did not come from `next`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ST = Path(sys.executable).with_name("st")


def test_book_service_conforms_to_its_openapi(
    service_process: Callable[..., object], mysql_database: Callable[[], str], tmp_path: Path
) -> None:
    engine = service_process("recommender")
    service = service_process(
        "svc_book",
        {
            "DATABASE_URL": mysql_database(),
            "MIGRATE_ON_START": "true",
            "ACCESS_LOG": "false",
            "BREAKER_STATE_FILE": str(tmp_path / "breaker.json"),
            "RECOMMENDER_URL": engine.url,  # type: ignore[attr-defined]
        },
    )
    result = subprocess.run(
        [str(ST), "run", f"{service.url}/openapi.json",  # type: ignore[attr-defined]
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--max-examples", "40", "--seed", "20261124",
         "--phases", "examples,coverage,fuzzing", "--request-timeout", "5"],
        capture_output=True, text=True, timeout=240,
    )
    tail = result.stdout[-4000:]
    assert result.returncode == 0, tail
    assert " passed" in tail and "failed" not in tail.split("SUMMARY")[-1].split("Test cases")[0]
